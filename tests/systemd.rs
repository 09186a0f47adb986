//! Under systemd (`Type=notify`, `WatchdogSec=`), through the real binary: the
//! daemon says `READY=1` once it is ready, sends `WATCHDOG=1` heartbeats, and
//! says `STOPPING=1` when its ordered stop begins. The socket stands in for
//! systemd's: a unix datagram socket bound where `NOTIFY_SOCKET` points.

mod common;

use common::{temp_dir, Daemon};
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

/// The notifications received until `until` is among them (bounded).
fn read_until(sock: &UnixDatagram, until: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match sock.recv(&mut buf) {
            Ok(n) => {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                let done = msg.lines().any(|l| l == until);
                got.push(msg);
                if done {
                    return got;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("notify socket: {e}"),
        }
    }
    panic!("no {until:?} within 30 s; got {got:?}");
}

#[test]
fn the_daemon_tells_systemd_ready_heartbeats_and_stopping() {
    let dir = temp_dir("systemd");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let path_s = path.to_str().unwrap().to_owned();
    let mut d = Daemon::spawn(
        &dir,
        common::free_port(),
        &[
            ("NOTIFY_SOCKET", path_s.as_str()),
            // A heartbeat every 100 ms.
            ("WATCHDOG_USEC", "200000"),
        ],
    );

    let before_ready = read_until(&sock, "READY=1");
    assert_eq!(
        d.call_as(None, "GET", "/readyz", None).0,
        200,
        "READY=1 only once /readyz says ready"
    );
    assert!(
        before_ready.iter().all(|m| !m.contains("STOPPING=1")),
        "{before_ready:?}"
    );
    // Heartbeats keep coming.
    for _ in 0..3 {
        read_until(&sock, "WATCHDOG=1");
    }

    let (status, v) = d.call("POST", "/v1/shutdown", Some(r#"{"reason":"test"}"#));
    assert_eq!(status, 202, "{v}");
    let at_stop = read_until(&sock, "STOPPING=1");
    assert!(
        at_stop.last().unwrap().contains("STATUS="),
        "a status line with it: {at_stop:?}"
    );
    assert_eq!(d.exit_code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_notify_socket_nothing_is_sent_and_the_daemon_runs() {
    let dir = temp_dir("systemd-off");
    // A watchdog without a socket (or for another process) is ignored.
    let mut d = Daemon::start(&dir, &[("WATCHDOG_USEC", "200000"), ("WATCHDOG_PID", "1")]);
    assert!(!d.seen.iter().any(|l| l.contains("systemd watchdog")));
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}
