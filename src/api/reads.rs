//! The read endpoints: `/healthz`, `/readyz`, `/metrics`, `/v1/status`,
//! `/v1/tree`, `/v1/events`, and the JSON shapes commands answer with too.
//!
//! Invariant: a read changes nothing. It comes from the kernel's registry, the
//! `StatusView` read model or the journal; `/v1/events` serves journaled events
//! only, so a `seq` a client has seen is never given to another event after a
//! crash.

use super::auth::authorize;
use super::errors::{Answer, ApiError};
use super::{ApiState, ASK_TIMEOUT, DEFAULT_EVENTS_LIMIT, MAX_EVENTS_LIMIT};
use crate::metrics;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use commodore_actors::control::engine_path;
use commodore_actors::journal::{Flush, Store};
use commodore_actors::kernel::{Event, NodeState};
use commodore_actors::model::{ModeState, RiskState};
use serde::Deserialize;
use serde_json::{json, Value};

pub(super) fn rfc3339(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(super) fn risk_json(r: &RiskState) -> Value {
    json!({"level": r.level.as_str(), "since": rfc3339(r.since_ms), "reason": r.reason})
}

pub(super) fn mode_json(m: &ModeState) -> Value {
    json!({"current": m.current.as_str(), "auto": m.auto, "since": rfc3339(m.since_ms)})
}

fn state_str(s: NodeState) -> Value {
    serde_json::to_value(s).unwrap_or(Value::Null)
}

fn engine_state(st: &ApiState, id: &str) -> NodeState {
    st.kernel
        .registry()
        .state(&engine_path(id))
        .unwrap_or(NodeState::Starting)
}

pub(super) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// Why the daemon is not ready, or `None` when it is.
pub fn not_ready(st: &ApiState) -> Option<String> {
    if st.lifecycle.is_stopping() {
        return Some("shutting down".to_owned());
    }
    let waiting: Vec<String> = st
        .engine_ids()
        .iter()
        .filter_map(|id| match st.kernel.registry().state(&engine_path(id)) {
            Some(NodeState::Running | NodeState::Paused) => None,
            // Stopped by an operator: meant, whatever state it is in.
            _ if st.kernel.registry().is_stopped(&engine_path(id)) => None,
            Some(s) => Some(format!(
                "engine {id} is {}",
                state_str(s).as_str().unwrap_or("?")
            )),
            None => Some(format!("engine {id} has not started yet")),
        })
        .collect();
    (!waiting.is_empty()).then(|| waiting.join("; "))
}

/// Whether every engine has settled: running, paused, stopped or failed,
/// none still starting or restarting (systemd's `READY=1`).
pub fn settled(st: &ApiState) -> bool {
    st.engine_ids().iter().all(|id| {
        !matches!(
            st.kernel.registry().state(&engine_path(id)),
            None | Some(NodeState::Starting | NodeState::Restarting)
        )
    })
}

pub(super) async fn readyz(st: web::Data<ApiState>) -> Answer {
    match not_ready(&st) {
        None => Ok(HttpResponse::Ok().content_type("text/plain").body("ready")),
        Some(why) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            why,
        )),
    }
}

pub(super) async fn metrics_text(req: HttpRequest, st: web::Data<ApiState>) -> Answer {
    authorize(&req, &st)?;
    let ids = st.engine_ids();
    let engines: Vec<(String, NodeState)> = ids
        .iter()
        .map(|id| (id.clone(), engine_state(&st, id)))
        .collect();
    let figures = ids
        .iter()
        .map(|id| (id.clone(), st.view.engine(id)))
        .collect();
    let llm = st
        .live
        .llm
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map(|services| {
            let (spent, budget) = services.spend_today();
            let n = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
            metrics::LlmFigures {
                spent,
                budget,
                calls: n(&services.stats.calls),
                errors: n(&services.stats.errors),
                over_budget: n(&services.stats.over_budget),
                busy: n(&services.stats.busy),
            }
        });
    let text = metrics::render(
        metrics::Snapshot {
            tree: st.kernel.tree(),
            risk: st.view.risk(),
            mode: st.view.mode(),
            engines,
            figures,
            notifier: st.view.notifier(),
            llm,
            process: metrics::Process::read(),
            uptime_s: uptime_s(&st),
            started_s: st.started_wall_ms / 1000,
            ready: not_ready(&st).is_none(),
            reconcile: st.view.reconcile(),
        },
        &st.view.latency,
    );
    Ok(HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(text))
}

fn uptime_s(st: &ApiState) -> u64 {
    st.wall.now_ms().saturating_sub(st.started_wall_ms) / 1000
}

pub(super) fn engine_json(st: &ApiState, id: &str) -> Value {
    let path = engine_path(id);
    let node = st.kernel.registry().node(&path);
    let f = st.view.engine(id);
    json!({
        "id": id,
        "state": state_str(engine_state(st, id)),
        "paused": st.kernel.registry().is_paused(&path),
        "restarts": node.map_or(0, |n| n.restarts),
        "contract": f.contract,
        "roll": f.roll,
        "positions": f.positions,
        "realized_pnl": f.realized_pnl,
        "equity": f.equity,
        "breaker": f.breaker,
        "last_price": f.last_price,
        "strategies": f.strategies,
        "orders": f.orders,
        "activity": f.activity,
    })
}

pub(super) async fn status(req: HttpRequest, st: web::Data<ApiState>) -> Answer {
    authorize(&req, &st)?;
    let engines: Vec<Value> = st
        .engine_ids()
        .iter()
        .map(|id| engine_json(&st, id))
        .collect();
    let portfolio = st.view.portfolio();
    let mut mode = mode_json(&st.view.mode());
    // The tiers an operator may choose (`POST /v1/mode`), lowest first.
    let tiers: Vec<String> = (st.live.mode.borrow().0.tiers.iter())
        .map(|p| p.tier.as_str().to_owned())
        .collect();
    mode["tiers"] = json!(tiers);
    Ok(HttpResponse::Ok().json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        // The process start, on the wall clock (as `uptime_s`).
        "started_at": rfc3339(st.started_wall_ms),
        "uptime_s": uptime_s(&st),
        "risk": risk_json(&st.view.risk()),
        "mode": mode,
        "engines": engines,
        "equity": portfolio.equity,
        "drawdown": portfolio.drawdown,
        "notifier": st.view.notifier(),
        "reconcile": st.view.reconcile(),
        // Each engine's IB connection (`broker.kind = "ib"`), else null.
        "ib": st.live.ib.read().unwrap_or_else(|e| e.into_inner()).as_ref().map(|p| p.status()),
    })))
}

pub(super) async fn tree(req: HttpRequest, st: web::Data<ApiState>) -> Answer {
    authorize(&req, &st)?;
    Ok(HttpResponse::Ok().json(json!({ "nodes": st.kernel.tree() })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    since: Option<u64>,
    limit: Option<usize>,
}

pub(super) fn event_json(e: &Event) -> Value {
    json!({"seq": e.seq, "at": rfc3339(e.at_ms), "kind": e.kind.as_str(), "path": e.path, "detail": e.detail})
}

/// Events after `since`, from the journal only: an event is served once it is
/// journaled, so a `seq` a client has seen can never be given to another event
/// after a crash. The journal is asked to write what it has first, so the answer
/// is current; if it cannot (restarting), the answer is what it has written.
async fn journaled_events(
    st: web::Data<ApiState>,
    since: u64,
    limit: usize,
) -> Result<Vec<Event>, ApiError> {
    if let Err(e) = st.journal_worker.ask_timeout(Flush, ASK_TIMEOUT).await {
        tracing::warn!(error = %e, "journal did not flush before an events read");
    }
    // SQLite reads block: off the API's only worker thread.
    web::block(move || read_events(&st, since, limit))
        .await
        .map_err(|e| ApiError::unavailable(format!("cannot read the journal: {e}")))?
}

pub(super) fn read_events(st: &ApiState, since: u64, limit: usize) -> Result<Vec<Event>, ApiError> {
    let mut guard = st.journal.lock().unwrap_or_else(|e| e.into_inner());
    if guard.is_none() {
        *guard = Some(
            Store::open(&st.journal_path)
                .map_err(|e| ApiError::unavailable(format!("cannot read the journal: {e}")))?,
        );
    }
    let store = guard.as_ref().expect("opened above");
    match store.events_since(since, limit) {
        Ok(v) => Ok(v),
        Err(e) => {
            *guard = None; // reopen next time
            Err(ApiError::unavailable(format!(
                "cannot read the journal: {e}"
            )))
        }
    }
}

pub(super) async fn events(req: HttpRequest, st: web::Data<ApiState>) -> Answer {
    authorize(&req, &st)?;
    let q = web::Query::<EventsQuery>::from_query(req.query_string()).map_err(|e| {
        ApiError::bad_request(format!(
            "bad query ({e}); use ?since=<seq>&limit=<1..={MAX_EVENTS_LIMIT}>"
        ))
    })?;
    let since = q.since.unwrap_or(0);
    let limit = q.limit.unwrap_or(DEFAULT_EVENTS_LIMIT);
    if limit == 0 || limit > MAX_EVENTS_LIMIT {
        return Err(ApiError::invalid(format!(
            "limit must be between 1 and {MAX_EVENTS_LIMIT}, got {limit}"
        )));
    }
    let list = journaled_events(st, since, limit).await?;
    let next = list.last().map_or(since, |e| e.seq);
    let events: Vec<Value> = list.iter().map(event_json).collect();
    Ok(HttpResponse::Ok().json(json!({"events": events, "next": next})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn node_states_are_their_contract_names() {
        assert_eq!(state_str(NodeState::Paused), json!("paused"));
        assert_eq!(state_str(NodeState::Restarting), json!("restarting"));
    }
}
