//! SIGINT and SIGTERM: an ordered stop, never the default "die at once".
//! SIGHUP (`systemctl reload`, `kill -HUP`) reloads the configuration, as
//! `POST /v1/config/reload` does; what it changed or why it changed nothing
//! is logged (one reload at a time; a SIGHUP during one waits for it).
//!
//! Invariant: the signals are listened for before anything starts, so one that
//! arrives while the tree starts is kept and handled once it is up.

use crate::assemble::Reloader;
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
    /// says it is under way), and every SIGHUP reloads the configuration.
    pub fn stop_on_signal(self, lifecycle: Arc<Lifecycle>, reloader: Arc<Reloader>) {
        let Signals {
            mut int,
            mut term,
            mut hup,
        } = self;
        actix_rt::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP received: reloading the configuration");
                match reloader.reload("SIGHUP").await {
                    Ok(done) => {
                        tracing::info!(changed = ?done.changed, "SIGHUP: configuration reloaded")
                    }
                    Err(e) => {
                        tracing::error!(errors = ?e.errors(), "SIGHUP: {}", e.message())
                    }
                }
            }
        });
        actix_rt::spawn(async move {
            loop {
                // The next SIGINT or SIGTERM (including one received before).
                let name = std::future::poll_fn(|cx| {
                    if int.poll_recv(cx).is_ready() {
                        std::task::Poll::Ready("SIGINT")
                    } else if term.poll_recv(cx).is_ready() {
                        std::task::Poll::Ready("SIGTERM")
                    } else {
                        std::task::Poll::Pending
                    }
                })
                .await;
                if lifecycle.begin_shutdown() {
                    tracing::info!(signal = %name, "signal received: stopping in reverse start order");
                } else {
                    tracing::info!(signal = %name, "signal received: the shutdown is already under way");
                }
            }
        });
    }
}
