//! SIGINT and SIGTERM: an ordered stop, never the default "die at once".
//!
//! Invariant: the signals are listened for before anything starts, so one that
//! arrives while the tree starts is kept and handled once it is up.

use commodore_actors::control::Lifecycle;
use std::sync::Arc;

/// SIGINT and SIGTERM, registered when created.
pub struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn listen() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    /// The next SIGINT or SIGTERM (including one received before this call).
    async fn next(&mut self) {
        std::future::poll_fn(|cx| {
            if self.int.poll_recv(cx).is_ready() || self.term.poll_recv(cx).is_ready() {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
        .await;
    }

    /// From now on every signal begins the shutdown (a second one says it is
    /// under way).
    pub fn stop_on_signal(mut self, lifecycle: Arc<Lifecycle>) {
        actix_rt::spawn(async move {
            loop {
                self.next().await;
                if lifecycle.begin_shutdown() {
                    tracing::info!("signal received: stopping in reverse start order");
                } else {
                    tracing::info!("signal received: the shutdown is already under way");
                }
            }
        });
    }
}
