//! Running under systemd (`Type=notify`, `WatchdogSec=`): `READY=1` once every
//! engine runs or is down on purpose, a `WATCHDOG=1` heartbeat that only the
//! root supervisor's answer lets through, `STOPPING=1` when the ordered stop
//! begins, and `STATUS=` lines a `systemctl status` shows.
//!
//! The protocol is sd_notify(3): datagrams to the unix socket in
//! `NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace). Without
//! `NOTIFY_SOCKET` nothing here does anything; a notification that cannot be
//! sent is logged once and never stops the daemon.
//!
//! Invariant: a heartbeat is sent only after `master` answered a question
//! asked through its mailbox within half the watchdog interval, so a wedged
//! root supervisor or main thread stops the heartbeats and systemd restarts the
//! daemon (nothing inside the tree watches the root).

use commodore_actors::control::Lifecycle;
use commodore_actors::kernel::Kernel;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often readiness and the stop are looked at.
const LOOK_EVERY: Duration = Duration::from_millis(100);

/// Where notifications go, from the environment systemd sets.
pub struct Notify {
    socket: Option<(UnixDatagram, Target)>,
    /// Half of `WATCHDOG_USEC`, when the watchdog is on and meant for this
    /// process (`WATCHDOG_PID` unset or ours).
    watchdog: Option<Duration>,
    warned: AtomicBool,
}

enum Target {
    Path(std::path::PathBuf),
    Abstract(Vec<u8>),
}

impl Notify {
    /// From `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID`.
    pub fn from_env() -> Notify {
        Notify::from_vars(|k| std::env::var(k).ok(), std::process::id())
    }

    fn from_vars(var: impl Fn(&str) -> Option<String>, pid: u32) -> Notify {
        let socket = var("NOTIFY_SOCKET")
            .filter(|s| !s.is_empty())
            .and_then(|s| {
                let target = match s.strip_prefix('@') {
                    Some(name) => Target::Abstract(name.as_bytes().to_vec()),
                    None => Target::Path(s.into()),
                };
                // Non-blocking: a full socket buffer drops a notification
                // (logged) instead of stalling whoever sends it.
                match UnixDatagram::unbound().and_then(|s| s.set_nonblocking(true).map(|()| s)) {
                    Ok(sock) => Some((sock, target)),
                    Err(e) => {
                        tracing::warn!(error = %e, "NOTIFY_SOCKET is set but no socket could be made: systemd will not hear from commodore");
                        None
                    }
                }
            });
        let for_us = var("WATCHDOG_PID")
            .and_then(|p| p.parse::<u32>().ok())
            .is_none_or(|p| p == pid);
        let watchdog = var("WATCHDOG_USEC")
            .and_then(|u| u.parse::<u64>().ok())
            .filter(|&u| u > 0 && for_us && socket.is_some())
            .map(|u| Duration::from_micros(u) / 2);
        Notify {
            socket,
            watchdog,
            warned: AtomicBool::new(false),
        }
    }

    pub fn enabled(&self) -> bool {
        self.socket.is_some()
    }

    /// Sends one notification (`KEY=value` lines); `false` when it could not
    /// be sent (logged once).
    pub fn send(&self, msg: &str) -> bool {
        let Some((sock, target)) = &self.socket else {
            return false;
        };
        let sent = match target {
            Target::Path(p) => sock.send_to(msg.as_bytes(), p).map(|_| ()),
            Target::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                std::os::unix::net::SocketAddr::from_abstract_name(name)
                    .and_then(|a| sock.send_to_addr(msg.as_bytes(), &a))
                    .map(|_| ())
            }
        };
        match sent {
            Ok(()) => true,
            Err(e) => {
                if !self.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "a systemd notification could not be sent (logged once)");
                }
                false
            }
        }
    }
}

/// Where the tree stands, for systemd: whether every engine has settled
/// (running, paused, stopped or failed: none still starting or restarting),
/// and why it is not fully ready, if it is not.
pub struct Standing {
    pub settled: bool,
    pub not_ready: Option<String>,
}

/// Runs beside the tree until the process ends: `READY=1` once every engine
/// has settled (an engine that failed at start is reported in `STATUS=`, not
/// waited for: the others trade, and waiting would have systemd kill them
/// all at its start timeout), `STOPPING=1` once the shutdown begins, and the
/// heartbeat.
pub fn spawn(
    notify: Arc<Notify>,
    kernel: Kernel,
    lifecycle: Arc<Lifecycle>,
    standing: impl Fn() -> Standing + 'static,
) {
    if !notify.enabled() {
        return;
    }
    if let Some(every) = notify.watchdog {
        tracing::info!(
            every_ms = every.as_millis() as u64,
            "systemd watchdog: heartbeats from the root supervisor"
        );
        actix_rt::spawn(heartbeat(notify.clone(), kernel, every));
    }
    let n = notify.clone();
    lifecycle.on_shutdown(move || {
        n.send("STOPPING=1\nSTATUS=stopping in reverse start order");
    });
    actix_rt::spawn(async move {
        let mut said = String::new();
        while !lifecycle.is_stopping() {
            let now = standing();
            if now.settled {
                let status = match &now.not_ready {
                    None => "trading".to_owned(),
                    Some(why) => format!("trading, degraded: {why}"),
                };
                // Sent until it goes through (a full socket buffer).
                if notify.send(&format!("READY=1\nSTATUS={status}")) {
                    return;
                }
            } else if let Some(why) = now.not_ready.filter(|w| *w != said) {
                notify.send(&format!("STATUS=starting: {why}"));
                said = why;
            }
            tokio::time::sleep(LOOK_EVERY).await;
        }
    });
}

/// Every `every`: ask `master` through its mailbox (bounded by `every`), and
/// only on its answer send `WATCHDOG=1`.
async fn heartbeat(notify: Arc<Notify>, kernel: Kernel, every: Duration) {
    beat(&kernel, every, |m| {
        notify.send(m);
    })
    .await
}

async fn beat(kernel: &Kernel, every: Duration, mut send: impl FnMut(&str)) {
    let root = commodore_actors::paths::MASTER;
    let mut silent = false;
    // A fixed rate, and an answer within half of it: two beats are never more
    // than 1.5 `every` apart (under the watchdog's 2 `every`) while the root
    // answers.
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match tokio::time::timeout(every / 2, kernel.count_children(root)).await {
            Ok(Ok(_)) => {
                if silent {
                    tracing::info!("the root supervisor answers again: heartbeats resume");
                    silent = false;
                }
                send("WATCHDOG=1");
            }
            // A root that does not answer (wedged, or gone at the end): no
            // heartbeat, so systemd's watchdog sees it.
            Ok(Err(_)) | Err(_) => {
                if !silent {
                    tracing::warn!("the root supervisor did not answer: no heartbeat to systemd");
                    silent = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commodore_actors::kernel::{ChildSpec, Fault, Handle, Root, SupervisorSpec, Worker};
    use std::cell::RefCell;
    use std::rc::Rc;

    struct Idle;
    impl Worker for Idle {}

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_environment_decides_what_is_sent() {
        let n = Notify::from_vars(vars(&[]), 7);
        assert!(!n.enabled());
        assert!(n.watchdog.is_none());
        assert!(!n.send("READY=1"), "a no-op, not an error");

        let on = vars(&[("NOTIFY_SOCKET", "/run/x"), ("WATCHDOG_USEC", "30000000")]);
        let n = Notify::from_vars(on, 7);
        assert!(n.enabled());
        assert_eq!(
            n.watchdog,
            Some(Duration::from_secs(15)),
            "half the interval"
        );

        let other = vars(&[
            ("NOTIFY_SOCKET", "@abstract"),
            ("WATCHDOG_USEC", "30000000"),
            ("WATCHDOG_PID", "8"),
        ]);
        assert!(
            Notify::from_vars(other, 7).watchdog.is_none(),
            "another process's watchdog"
        );
        let ours = vars(&[
            ("NOTIFY_SOCKET", "/run/x"),
            ("WATCHDOG_USEC", "1000"),
            ("WATCHDOG_PID", "7"),
        ]);
        assert!(Notify::from_vars(ours, 7).watchdog.is_some());
        let bad = vars(&[("NOTIFY_SOCKET", "/run/x"), ("WATCHDOG_USEC", "soon")]);
        assert!(Notify::from_vars(bad, 7).watchdog.is_none());
        let no_socket = vars(&[("WATCHDOG_USEC", "1000")]);
        assert!(Notify::from_vars(no_socket, 7).watchdog.is_none());
    }

    #[test]
    fn a_send_that_fails_is_logged_not_fatal() {
        let n = Notify::from_vars(vars(&[("NOTIFY_SOCKET", "/nonexistent/socket")]), 7);
        assert!(!n.send("READY=1"));
        assert!(!n.send("READY=1"));
        assert!(n.warned.load(Ordering::Relaxed));
    }

    /// The heartbeat stops while the root supervisor is wedged and resumes
    /// when it answers again (paused time).
    #[actix_rt::test]
    async fn a_wedged_root_stops_the_heartbeat() {
        tokio::time::pause();
        let kernel = Kernel::new(1);
        let h: Handle<Idle> = Handle::new();
        let spec = SupervisorSpec::new(commodore_actors::paths::MASTER, Default::default())
            .child(ChildSpec::worker("w", &h, || Idle));
        let _root = Root::start(spec, &kernel);
        tokio::time::sleep(Duration::from_millis(10)).await;

        let beats = Rc::new(RefCell::new(Vec::new()));
        let every = Duration::from_secs(1);
        let (k, b) = (kernel.clone(), beats.clone());
        actix_rt::spawn(
            async move { beat(&k, every, |m| b.borrow_mut().push(m.to_owned())).await },
        );
        tokio::time::sleep(Duration::from_millis(3500)).await;
        let before = beats.borrow().len();
        assert!(before >= 3, "beats while the root answers: {before}");

        // The root's mailbox waits 5 s: no heartbeat meanwhile.
        kernel
            .inject(commodore_actors::paths::MASTER, Fault::hang(5000))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(4500)).await;
        let during = beats.borrow().len() - before;
        assert!(during <= 1, "at most the beat already asked: {during}");
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(
            beats.borrow().len() - before - during >= 2,
            "heartbeats resume once the root answers"
        );
        assert!(beats.borrow().iter().all(|m| m == "WATCHDOG=1"));
    }
}
