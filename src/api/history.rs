//! `GET /v1/history?since=N`: what the dashboard draws over time, from before
//! it was opened: each engine's equity and outcome counters, the account's
//! equity and the risk level, sampled from the `StatusView` every
//! [`SAMPLE_EVERY`] (wall time) since the daemon started.
//!
//! Nothing else keeps these over time: the view holds the present only, the
//! journal holds fills and outcomes but no marks. A read model of a read
//! model: it decides nothing and writes nothing but its own ring.
//!
//! Invariant: at most [`CAPACITY`] samples (a day), the oldest dropped
//! first; each has a number `n` that only grows, so a reader asks for what
//! it has not seen (`since`); the ring lives in memory and starts empty with
//! each daemon (a restart is a break in the curves).

use super::auth::authorize;
use super::errors::{Answer, ApiError};
use super::reads::rfc3339;
use super::ApiState;
use actix_web::{web, HttpRequest, HttpResponse};
use commodore_actors::control::engine_path;
use commodore_actors::model::Outcome;
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the figures are sampled (wall time).
pub const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// Samples kept: a day at [`SAMPLE_EVERY`].
pub const CAPACITY: usize = 8640;
/// Samples per answer at most (a client pages on with `next` while `more`).
pub const PAGE: usize = 1000;

/// One engine in one sample: about 150 bytes (the ring holds
/// [`CAPACITY`] samples of every engine: about 1.3 MB an engine once full).
#[derive(Debug, Clone)]
pub struct EngineSample {
    /// Shared with the engine's earlier samples.
    pub id: Arc<str>,
    pub equity: Decimal,
    pub realized_pnl: Decimal,
    pub unrealized_pnl: Decimal,
    /// Its outcome counters then, in [`Outcome::ALL`]'s order (they start
    /// again at 0 with the engine).
    pub outcomes: [u64; Outcome::ALL.len()],
    pub restarts: u64,
}

impl EngineSample {
    fn json(&self) -> serde_json::Value {
        let outcomes: BTreeMap<&str, u64> = Outcome::ALL
            .iter()
            .zip(self.outcomes)
            .filter(|(_, n)| *n > 0)
            .map(|(o, n)| (o.as_str(), n))
            .collect();
        serde_json::json!({
            "id": &*self.id,
            "equity": self.equity,
            "realized_pnl": self.realized_pnl,
            "unrealized_pnl": self.unrealized_pnl,
            "outcomes": outcomes,
            "restarts": self.restarts,
        })
    }
}

/// The figures at one moment.
#[derive(Debug, Clone)]
pub struct Sample {
    pub n: u64,
    /// Market time (as events are stamped) and wall time.
    pub at_ms: u64,
    pub wall_ms: u64,
    pub risk: &'static str,
    pub equity: Decimal,
    pub engines: Vec<EngineSample>,
}

/// The ring of samples.
#[derive(Default)]
pub struct History {
    inner: Mutex<Ring>,
}

#[derive(Default)]
struct Ring {
    samples: VecDeque<Sample>,
    last_n: u64,
}

impl History {
    /// Adds a sample (its `n` given here), dropping the oldest past [`CAPACITY`].
    pub fn push(&self, mut s: Sample) {
        let mut ring = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        ring.last_n += 1;
        s.n = ring.last_n;
        if ring.samples.len() == CAPACITY {
            ring.samples.pop_front();
        }
        ring.samples.push_back(s);
    }

    /// Engine `id` as the newest sample holds it (one copy for all).
    fn id(&self, id: &str) -> Arc<str> {
        let ring = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        ring.samples
            .back()
            .and_then(|s| s.engines.iter().find(|e| &*e.id == id))
            .map_or_else(|| Arc::from(id), |e| e.id.clone())
    }

    /// The samples with `n > since`, oldest first, at most `limit`, and
    /// the newest `n` of the ring.
    pub fn since(&self, since: u64, limit: usize) -> (Vec<Sample>, u64) {
        let ring = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let first = ring.samples.partition_point(|s| s.n <= since);
        let page = ring.samples.range(first..).take(limit).cloned().collect();
        (page, ring.last_n)
    }
}

/// The figures now, from the view and the registry.
fn sample(st: &ApiState) -> Sample {
    let engines = st
        .engine_ids()
        .into_iter()
        .filter_map(|id| {
            let f = st.view.engine(&id);
            // Not published yet (an engine starting): no point rather
            // than a false zero.
            if f.equity.is_zero() && f.positions.is_empty() {
                return None;
            }
            let restarts = st
                .kernel
                .registry()
                .node(&engine_path(&id))
                .map_or(0, |n| n.restarts);
            Some(EngineSample {
                equity: f.equity,
                realized_pnl: f.realized_pnl,
                unrealized_pnl: f.positions.iter().map(|p| p.unrealized_pnl).sum(),
                outcomes: Outcome::ALL
                    .map(|o| f.activity.outcomes.get(o.as_str()).copied().unwrap_or(0)),
                restarts,
                id: st.history.id(&id),
            })
        })
        .collect();
    Sample {
        n: 0,
        at_ms: st.market.now_ms(),
        wall_ms: st.wall.now_ms(),
        risk: st.view.risk().level.as_str(),
        equity: st.view.portfolio().equity,
        engines,
    }
}

/// Samples every [`SAMPLE_EVERY`], the first at once, until the daemon stops.
pub fn spawn_sampler(st: Arc<ApiState>) {
    actix_rt::spawn(async move {
        let mut tick = tokio::time::interval(SAMPLE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if st.lifecycle.is_stopping() {
                return;
            }
            st.history.push(sample(&st));
        }
    });
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    since: Option<u64>,
}

fn sample_json(s: &Sample) -> serde_json::Value {
    serde_json::json!({
        "n": s.n,
        "at": rfc3339(s.at_ms),
        "wall_at": rfc3339(s.wall_ms),
        "risk": s.risk,
        "equity": s.equity,
        "engines": s.engines.iter().map(EngineSample::json).collect::<Vec<_>>(),
    })
}

/// `GET /v1/history?since=N`: `{every_s, capacity, samples: [...], next,
/// more}`: at most [`PAGE`] samples after `since`; `next` is the `since` of
/// the next page (the last sample's `n`, or the ring's newest when there is
/// none: below `since` when the daemon has started again since).
pub(super) async fn history(req: HttpRequest, st: web::Data<ApiState>) -> Answer {
    authorize(&req, &st)?;
    let q = web::Query::<HistoryQuery>::from_query(req.query_string())
        .map_err(|e| ApiError::bad_request(format!("bad query ({e}); use ?since=<n>")))?;
    let (samples, newest) = st.history.since(q.since.unwrap_or(0), PAGE);
    let next = samples.last().map_or(newest, |s| s.n);
    let samples: Vec<serde_json::Value> = samples.iter().map(sample_json).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "every_s": SAMPLE_EVERY.as_secs(),
        "capacity": CAPACITY,
        "samples": samples,
        "next": next,
        "more": next < newest,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(at_ms: u64) -> Sample {
        Sample {
            n: 0,
            at_ms,
            wall_ms: at_ms,
            risk: "NORMAL",
            equity: Decimal::ONE,
            engines: Vec::new(),
        }
    }

    #[test]
    fn an_engine_sample_is_small_shares_its_id_and_reads_as_before() {
        let h = History::default();
        let mut first = s(0);
        let mut outcomes = [0; Outcome::ALL.len()];
        outcomes[0] = 3; // executed
        first.engines.push(EngineSample {
            id: h.id("KC"),
            equity: Decimal::from(250_000),
            realized_pnl: Decimal::ONE,
            unrealized_pnl: Decimal::ZERO,
            outcomes,
            restarts: 2,
        });
        h.push(first);
        assert!(Arc::ptr_eq(&h.id("KC"), &h.since(0, 1).0[0].engines[0].id));
        assert!(std::mem::size_of::<EngineSample>() <= 160);
        let json = h.since(0, 1).0[0].engines[0].json();
        assert_eq!(
            json,
            serde_json::json!({"id": "KC", "equity": "250000", "realized_pnl": "1",
                "unrealized_pnl": "0", "outcomes": {"executed": 3}, "restarts": 2})
        );
    }

    #[test]
    fn the_ring_keeps_the_newest_capacity_samples_numbered_for_since() {
        let h = History::default();
        assert_eq!(h.since(0, CAPACITY).0.len(), 0);
        for i in 0..(CAPACITY as u64 + 5) {
            h.push(s(i));
        }
        let (all, newest) = h.since(0, CAPACITY);
        assert_eq!(all.len(), CAPACITY);
        assert_eq!(newest, CAPACITY as u64 + 5);
        assert_eq!(all[0].n, 6, "the five oldest dropped");
        assert_eq!(all.last().unwrap().n, newest);
        let (after, _) = h.since(newest - 2, CAPACITY);
        assert_eq!(
            after.iter().map(|s| s.n).collect::<Vec<_>>(),
            [newest - 1, newest]
        );
        assert!(h.since(newest, CAPACITY).0.is_empty());
        // A page: the oldest first.
        let (page, _) = h.since(0, PAGE);
        assert_eq!(
            (page.len(), page[0].n, page[PAGE - 1].n),
            (PAGE, 6, PAGE as u64 + 5)
        );
    }
}
