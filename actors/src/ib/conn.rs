//! A connection to IB's life, shared by an engine's order connection
//! (`orders.rs`) and the market data connection (`bars.rs`): connect
//! (bounded), a session, then, when it falls, the link down and a jittered
//! exponential backoff before the next attempt; the heartbeat that catches
//! a hung gateway; the pool's pacing; what counts as a fall.

use super::{IbSettings, Link};
use crate::clock::Clock;
use crate::kernel::SplitMix64;
use ibapi::Client;
use rust_decimal::Decimal;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio_stream::StreamExt;

/// What the pool's connections share.
pub(crate) struct Shared {
    pub settings: Arc<IbSettings>,
    pub pacer: Arc<Mutex<super::pacing::Pacer>>,
    pub clock: Clock,
    pub stop: watch::Receiver<bool>,
}

/// How a session ended.
pub(crate) enum End {
    Stopped,
    /// The connection fell or could not be made; `connected` says whether
    /// it had been made (the backoff starts over then).
    Lost {
        why: String,
        connected: bool,
    },
}

impl End {
    /// A connection that had been made fell.
    pub(crate) fn fell(why: String) -> End {
        End::Lost {
            why,
            connected: true,
        }
    }
}

impl Shared {
    /// The pacer as `link`'s session (begun at `started`) waits on it.
    pub(crate) fn pace<'a>(&'a self, started: tokio::time::Instant, link: &'a Link) -> Pace<'a> {
        Pace {
            pacer: &self.pacer,
            clock: self.clock,
            started,
            link,
        }
    }
}

/// A session must hold this long for the backoff to start over: one that
/// connects and falls at once (a request IB refuses at every connect) keeps
/// backing off.
const HELD: Duration = Duration::from_secs(60);

/// The failure count after a session that began at `began`.
pub(crate) fn next_failures(
    failures: u32,
    connected: bool,
    began: tokio::time::Instant,
    clock: &Clock,
) -> u32 {
    if connected && clock.instant().duration_since(began) >= HELD {
        1
    } else {
        failures.saturating_add(1)
    }
}

/// After a session ended with `why`: the link is down (not ready, and
/// why), then the backoff before attempt `failures + 1`. `false` when the
/// pool stopped meanwhile.
pub(crate) async fn down_then_wait(
    link: &Link,
    sh: &mut Shared,
    failures: u32,
    why: String,
) -> bool {
    {
        let mut s = link.lock_status();
        s.ready = false;
        s.why = why;
    }
    let wait = backoff(
        failures,
        link.client_id,
        sh.settings.backoff_min,
        sh.settings.backoff_max,
    );
    tokio::select! {
        _ = tokio::time::sleep(wait) => true,
        _ = sh.stop.changed() => false,
    }
}

/// The wait before attempt `failures` (1, 2, ...): `min` doubled per
/// failure, capped at `max`, then drawn between half and all of it (so the
/// pool's connections do not all knock at once).
pub(crate) fn backoff(failures: u32, client_id: i32, min: Duration, max: Duration) -> Duration {
    let full = min
        .saturating_mul(1u32 << failures.saturating_sub(1).min(20))
        .min(max);
    let seed = (u64::from(failures) << 32) ^ u64::from(client_id as u32);
    let frac = (SplitMix64::new(seed).next_u64() % 1000) as u32; // 0..=999 thousandths
    full / 2 + (full / 2) * frac / 1000
}

/// Connects as `client_id` (IB's own reconnection off: ours reconciles
/// first), within `connect_timeout`.
pub(crate) async fn connect(s: &IbSettings, client_id: i32) -> Result<Client, String> {
    let connect = Client::builder()
        .address(s.address())
        .client_id(client_id)
        .max_reconnect_attempts(0)
        .connect();
    match tokio::time::timeout(s.connect_timeout, connect).await {
        Err(_) => Err(format!(
            "IB at {} did not complete the handshake within {:?}",
            s.address(),
            s.connect_timeout
        )),
        Ok(Err(e)) => Err(format!(
            "cannot connect to IB at {} as client id {client_id}: {e} (is TWS or IB Gateway running with the API enabled on that port?)",
            s.address(),
        )),
        Ok(Ok(c)) => Ok(c),
    }
}

/// IB's time, asked within `request_timeout`: `Err` when the connection
/// fell or the gateway stopped answering (a hung or logged-out gateway
/// keeps its socket open, and only this notices).
pub(crate) async fn heartbeat(
    client: &Client,
    s: &IbSettings,
    pace: &Pace<'_>,
) -> Result<(), String> {
    pace.wait().await;
    match tokio::time::timeout(s.request_timeout, client.server_time()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("the connection to IB fell: {e}")),
        Err(_) => Err(format!(
            "IB stopped answering: no reply to a heartbeat within {:?} (a hung or logged-out gateway)",
            s.request_timeout
        )),
    }
}

/// The next item of a subscription that may be gone (then never).
pub(crate) async fn next_of<S: tokio_stream::Stream + Unpin>(s: &mut Option<S>) -> Option<S::Item> {
    match s {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

/// Waits for a slot of the pool's shared pacer.
pub(crate) struct Pace<'a> {
    pub pacer: &'a Mutex<super::pacing::Pacer>,
    pub clock: Clock,
    pub started: tokio::time::Instant,
    pub link: &'a Link,
}

impl Pace<'_> {
    pub(crate) async fn wait(&self) {
        loop {
            let now = self.clock.instant().duration_since(self.started);
            let wait = self
                .pacer
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(now.as_micros() as u64);
            match wait {
                None => return,
                Some(w) => {
                    self.link.lock_status().paced += 1;
                    tokio::time::sleep(w).await;
                }
            }
        }
    }
}

/// Whether an error of a request means the connection is gone (then the
/// session ends and the reconciliation decides), rather than a refusal of
/// the request itself.
pub(crate) fn fell_with(e: &ibapi::Error) -> bool {
    e.is_connection_lost()
        || matches!(
            e,
            ibapi::Error::ConnectionFailed
                | ibapi::Error::Shutdown
                | ibapi::Error::Io(_)
                | ibapi::Error::Cancelled
        )
}

/// IB's numbers (f64) as decimals, by their shortest text: 312.05 stays
/// 312.05.
pub(crate) fn dec(x: f64) -> Decimal {
    if !x.is_finite() {
        return Decimal::ZERO;
    }
    Decimal::from_str(&format!("{x}")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_to_its_cap_and_is_jittered() {
        let (min, max) = (Duration::from_millis(500), Duration::from_secs(60));
        let w: Vec<Duration> = (1..=10).map(|f| backoff(f, 101, min, max)).collect();
        assert!(w[0] >= Duration::from_millis(250) && w[0] <= min, "{w:?}");
        assert!(
            w[3] >= Duration::from_secs(2) && w[3] <= Duration::from_secs(4),
            "{w:?}"
        );
        assert!(w[9] >= Duration::from_secs(30) && w[9] <= max, "{w:?}");
        // Two connections do not wait alike.
        assert_ne!(backoff(3, 101, min, max), backoff(3, 102, min, max));
    }

    #[test]
    fn ib_numbers_keep_their_decimals() {
        assert_eq!(dec(312.05).to_string(), "312.05");
        assert_eq!(dec(2.0).to_string(), "2");
        assert_eq!(dec(f64::NAN), Decimal::ZERO);
    }
}
