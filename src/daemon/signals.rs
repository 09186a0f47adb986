//! SIGINT and SIGTERM: an ordered stop, never the default "die at once".
//! SIGHUP (a closed terminal, `systemctl reload`, a log rotator's habit) must
//! not kill the daemon either: it is logged and changes nothing, because a
//! live config reload is not in this build (restart to apply a change).
//!
//! Invariant: the signals are listened for before anything starts, so one that
//! arrives while the tree starts is kept and handled once it is up.

use commodore_actors::control::Lifecycle;
use std::sync::Arc;
use tokio::signal::unix::Signal;

/// SIGINT, SIGTERM and SIGHUP, registered when created.
pub struct Signals {
    int: Signal,
    term: Signal,
    hup: Signal,
}

impl Signals {
    pub fn listen() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// From now on every SIGINT or SIGTERM begins the shutdown (a second one
    /// says it is under way), and every SIGHUP is logged and ignored.
    pub fn stop_on_signal(self, lifecycle: Arc<Lifecycle>) {
        let Signals {
            mut int,
            mut term,
            mut hup,
        } = self;
        actix_rt::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::warn!(
                    "SIGHUP received: ignored (a live config reload is not in this build; restart to apply a config change)"
                );
            }
        });
        actix_rt::spawn(async move {
            loop {
                // The next SIGINT or SIGTERM (including one received before).
                std::future::poll_fn(|cx| {
                    if int.poll_recv(cx).is_ready() || term.poll_recv(cx).is_ready() {
                        std::task::Poll::Ready(())
                    } else {
                        std::task::Poll::Pending
                    }
                })
                .await;
                if lifecycle.begin_shutdown() {
                    tracing::info!("signal received: stopping in reverse start order");
                } else {
                    tracing::info!("signal received: the shutdown is already under way");
                }
            }
        });
    }
}
