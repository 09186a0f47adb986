//! The HTTP control API (OPERATOR_API.md): actix-web on its own worker thread, so
//! a busy or wedged engine never stalls the operator. Handlers read the shared
//! [`StatusView`] and the kernel's registry, and send commands to the actors that
//! own the state (`portfolio_risk`, `mode`, `control`); they never hold state of
//! their own.

use crate::metrics;
use crate::token;
use actix_web::http::{header, StatusCode};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer, ResponseError};
use commodore_actors::control::{
    engine_path, ControlActor, ControlError, Lifecycle, PauseEngine, ResumeEngine, Shutdown,
};
use commodore_actors::events::OPERATOR;
use commodore_actors::journal::{Flush, Journal, Store};
use commodore_actors::kernel::{
    CallError, Event, Fault, FaultKind, Handle, Kernel, KernelError, NodeState,
};
use commodore_actors::mode::{ModeActor, ModeError, SetMode};
use commodore_actors::model::{ModeState, RiskLevel, RiskState};
use commodore_actors::risk::{Escalate, PortfolioRisk, ResetRisk, RiskError, RiskOutcome};
use commodore_actors::view::StatusView;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Request bodies above this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Events per `GET /v1/events` page: default and upper bound.
pub const DEFAULT_EVENTS_LIMIT: usize = 100;
pub const MAX_EVENTS_LIMIT: usize = 1000;
/// Reasons longer than this are refused (422): they go into the journal.
pub const MAX_REASON_CHARS: usize = 1000;
/// How long a command waits for the actor that carries it out.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 64;

/// Everything the handlers use; shared by every request.
pub struct ApiState {
    pub kernel: Kernel,
    pub view: Arc<StatusView>,
    pub lifecycle: Arc<Lifecycle>,
    /// The tree's clock (uptime).
    pub clock: commodore_actors::clock::Clock,
    pub token: token::Token,
    pub risk: Handle<PortfolioRisk>,
    pub mode: Handle<ModeActor>,
    pub control: Handle<ControlActor>,
    pub journal_worker: Handle<Journal>,
    pub engines: Vec<String>,
    /// The configured capital tiers (`POST /v1/mode` names one of them).
    pub tiers: commodore_actors::model::Tiers,
    /// `Err(why)` when `POST /v1/faults` is refused by policy.
    pub faults: Result<(), String>,
    pub journal_path: PathBuf,
    /// The API's own read connection, opened on first use.
    pub journal: Mutex<Option<Store>>,
}

/// An error answer of the contract: `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
    fn bad_request(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", m)
    }
    fn invalid(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", m)
    }
    fn not_found(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", m)
    }
    fn conflict(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", m)
    }
    fn unavailable(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            r.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        r.json(json!({"error": {"code": self.code, "message": self.message}}))
    }
}

impl From<CallError> for ApiError {
    fn from(e: CallError) -> ApiError {
        ApiError::unavailable(format!("{e}; retry shortly"))
    }
}

type Answer = Result<HttpResponse, ApiError>;

/// Starts the server on an already bound listener (bound before the tree starts,
/// so a taken port is a start-up error). One worker thread: this is a control
/// plane, not a data plane.
pub fn serve(
    state: Arc<ApiState>,
    listener: std::net::TcpListener,
) -> std::io::Result<actix_web::dev::Server> {
    let data = web::Data::from(state);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .service(resource("/healthz").route(web::get().to(healthz)))
            .service(resource("/readyz").route(web::get().to(readyz)))
            .service(resource("/metrics").route(web::get().to(metrics_text)))
            .service(resource("/v1/status").route(web::get().to(status)))
            .service(resource("/v1/tree").route(web::get().to(tree)))
            .service(resource("/v1/events").route(web::get().to(events)))
            .service(resource("/v1/engines/{id}/pause").route(web::post().to(pause)))
            .service(resource("/v1/engines/{id}/resume").route(web::post().to(resume)))
            .service(resource("/v1/risk/escalate").route(web::post().to(escalate)))
            .service(resource("/v1/risk/reset").route(web::post().to(reset)))
            .service(resource("/v1/mode").route(web::post().to(mode)))
            .service(resource("/v1/faults").route(web::post().to(faults)))
            .service(resource("/v1/shutdown").route(web::post().to(shutdown)))
            .default_service(web::to(unknown_route))
    })
    .workers(1)
    .max_connections(MAX_CONNECTIONS)
    .disable_signals()
    .shutdown_timeout(2)
    .listen(listener)?
    .run())
}

fn authorize(req: &HttpRequest, st: &ApiState) -> Result<(), ApiError> {
    let unauthorized = |m: String| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m);
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Err(unauthorized(
            "missing `Authorization: Bearer <token>` header; the token is in control.token_file (default <data_dir>/control.token) or COMMODORE_CONTROL_TOKEN".into(),
        ));
    };
    // The scheme name is case-insensitive (RFC 7235).
    let given = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`".into()))?;
    if token::matches(&st.token.value, given) {
        Ok(())
    } else {
        Err(unauthorized(
            "wrong token; use the daemon's: control.token_file (default <data_dir>/control.token) or COMMODORE_CONTROL_TOKEN".into(),
        ))
    }
}

/// Reads a JSON body of at most [`MAX_BODY_BYTES`]. Not JSON → 400; JSON with
/// missing, unknown or mistyped fields → 422. An empty body is `None`.
async fn body<T: DeserializeOwned>(payload: web::Payload) -> Result<Option<T>, ApiError> {
    let bytes = match payload.to_bytes_limited(MAX_BODY_BYTES).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => return Err(ApiError::bad_request(format!("cannot read the body: {e}"))),
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the body is over {MAX_BODY_BYTES} bytes"),
            ))
        }
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        if e.is_data() {
            ApiError::invalid(format!("the body does not fit this endpoint: {e}"))
        } else {
            ApiError::bad_request(format!("the body is not valid JSON: {e}"))
        }
    })
}

async fn required<T: DeserializeOwned>(
    payload: web::Payload,
    example: &str,
) -> Result<T, ApiError> {
    body(payload).await?.ok_or_else(|| {
        ApiError::bad_request(format!("this endpoint needs a JSON body like {example}"))
    })
}

fn reason(r: Option<String>, required: bool) -> Result<String, ApiError> {
    let r = r.map(|r| r.trim().to_owned()).unwrap_or_default();
    if r.is_empty() {
        return if required {
            Err(ApiError::invalid(
                "reason is required: say why, it is journaled",
            ))
        } else {
            Ok("operator".to_owned())
        };
    }
    if r.chars().count() > MAX_REASON_CHARS {
        return Err(ApiError::invalid(format!(
            "reason is longer than {MAX_REASON_CHARS} characters"
        )));
    }
    Ok(r)
}

fn rfc3339(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn risk_json(r: &RiskState) -> Value {
    json!({"level": r.level.as_str(), "since": rfc3339(r.since_ms), "reason": r.reason})
}

fn mode_json(m: &ModeState) -> Value {
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

/// A path of the API; another method on it answers 405 in the contract's shape.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

async fn method_not_allowed(req: HttpRequest) -> Answer {
    Err(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} is not allowed on {}; see OPERATOR_API.md",
            req.method(),
            req.path()
        ),
    ))
}

async fn unknown_route(req: HttpRequest) -> Answer {
    Err(ApiError::not_found(format!(
        "no endpoint {} {}; see OPERATOR_API.md",
        req.method(),
        req.path()
    )))
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// Why the daemon is not ready, or `None` when it is.
pub fn not_ready(st: &ApiState) -> Option<String> {
    if st.lifecycle.is_stopping() {
        return Some("shutting down".to_owned());
    }
    let waiting: Vec<String> = st
        .engines
        .iter()
        .filter_map(|id| match st.kernel.registry().state(&engine_path(id)) {
            Some(NodeState::Running | NodeState::Paused) => None,
            Some(s) => Some(format!(
                "engine {id} is {}",
                state_str(s).as_str().unwrap_or("?")
            )),
            None => Some(format!("engine {id} has not started yet")),
        })
        .collect();
    (!waiting.is_empty()).then(|| waiting.join("; "))
}

async fn readyz(st: web::Data<ApiState>) -> Answer {
    match not_ready(&st) {
        None => Ok(HttpResponse::Ok().content_type("text/plain").body("ready")),
        Some(why) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            why,
        )),
    }
}

async fn metrics_text(req: HttpRequest, st: web::Data<ApiState>) -> Answer {
    authorize(&req, &st)?;
    let engines: Vec<(String, NodeState)> = st
        .engines
        .iter()
        .map(|id| (id.clone(), engine_state(&st, id)))
        .collect();
    let figures = st
        .engines
        .iter()
        .map(|id| (id.clone(), st.view.engine(id)))
        .collect();
    let text = metrics::render(&metrics::Snapshot {
        tree: st.kernel.tree(),
        risk: st.view.risk(),
        engines,
        figures,
        uptime_s: uptime_s(&st),
        ready: not_ready(&st).is_none(),
    });
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}

fn uptime_s(st: &ApiState) -> u64 {
    st.clock.now_ms().saturating_sub(st.lifecycle.started_at_ms) / 1000
}

fn engine_json(st: &ApiState, id: &str) -> Value {
    let path = engine_path(id);
    let node = st.kernel.registry().node(&path);
    let f = st.view.engine(id);
    json!({
        "id": id,
        "state": state_str(engine_state(st, id)),
        "paused": st.kernel.registry().is_paused(&path),
        "restarts": node.map_or(0, |n| n.restarts),
        "positions": f.positions,
        "realized_pnl": f.realized_pnl,
        "equity": f.equity,
        "breaker": f.breaker,
        "last_price": f.last_price,
        "activity": f.activity,
    })
}

async fn status(req: HttpRequest, st: web::Data<ApiState>) -> Answer {
    authorize(&req, &st)?;
    let engines: Vec<Value> = st.engines.iter().map(|id| engine_json(&st, id)).collect();
    let portfolio = st.view.portfolio();
    Ok(HttpResponse::Ok().json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "started_at": rfc3339(st.lifecycle.started_at_ms),
        "uptime_s": uptime_s(&st),
        "risk": risk_json(&st.view.risk()),
        "mode": mode_json(&st.view.mode()),
        "engines": engines,
        "equity": portfolio.equity,
        "drawdown": portfolio.drawdown,
        "notifier": st.view.notifier(),
    })))
}

async fn tree(req: HttpRequest, st: web::Data<ApiState>) -> Answer {
    authorize(&req, &st)?;
    Ok(HttpResponse::Ok().json(json!({ "nodes": st.kernel.tree() })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    since: Option<u64>,
    limit: Option<usize>,
}

fn event_json(e: &Event) -> Value {
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

fn read_events(st: &ApiState, since: u64, limit: usize) -> Result<Vec<Event>, ApiError> {
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

async fn events(req: HttpRequest, st: web::Data<ApiState>) -> Answer {
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

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    reason: Option<String>,
}

fn control_error(e: ControlError) -> ApiError {
    match e {
        ControlError::UnknownEngine { .. } => ApiError::not_found(e.to_string()),
        ControlError::EngineFailed(_) | ControlError::ShuttingDown => {
            ApiError::conflict(e.to_string())
        }
        ControlError::Journal(_) => ApiError::unavailable(e.to_string()),
    }
}

async fn pause(req: HttpRequest, st: web::Data<ApiState>, payload: web::Payload) -> Answer {
    engine_command(req, st, payload, true).await
}

async fn resume(req: HttpRequest, st: web::Data<ApiState>, payload: web::Payload) -> Answer {
    engine_command(req, st, payload, false).await
}

/// Pause (`pause = true`) or resume one engine through `control`.
async fn engine_command(
    req: HttpRequest,
    st: web::Data<ApiState>,
    payload: web::Payload,
    pause: bool,
) -> Answer {
    authorize(&req, &st)?;
    let b: ReasonBody = body(payload).await?.unwrap_or_default();
    let engine = req.match_info().get("id").unwrap_or_default().to_owned();
    let reason = reason(b.reason, false)?;
    let asked = if pause {
        st.control
            .ask_timeout(PauseEngine { engine, reason }, ASK_TIMEOUT)
            .await
    } else {
        st.control
            .ask_timeout(ResumeEngine { engine, reason }, ASK_TIMEOUT)
            .await
    };
    let out = asked?.map_err(control_error)?;
    Ok(HttpResponse::Ok().json(json!({
        "engine": engine_json(&st, &out.engine),
        "changed": out.changed,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LevelBody {
    level: String,
    reason: Option<String>,
}

fn risk_answer(r: Result<RiskOutcome, RiskError>) -> Answer {
    let out = r.map_err(|e| ApiError::unavailable(e.to_string()))?;
    Ok(HttpResponse::Ok().json(json!({
        "risk": risk_json(&out.risk),
        "changed": out.changed,
        "message": out.message,
    })))
}

async fn escalate(req: HttpRequest, st: web::Data<ApiState>, payload: web::Payload) -> Answer {
    authorize(&req, &st)?;
    let b: LevelBody = required(payload, r#"{"level": "HALT", "reason": "..."}"#).await?;
    let level: RiskLevel = b.level.parse().map_err(ApiError::invalid)?;
    let m = Escalate {
        level,
        reason: reason(b.reason, true)?,
        source: "operator".to_owned(),
    };
    risk_answer(st.risk.ask_timeout(m, ASK_TIMEOUT).await?)
}

async fn reset(req: HttpRequest, st: web::Data<ApiState>, payload: web::Payload) -> Answer {
    authorize(&req, &st)?;
    let b: LevelBody = required(payload, r#"{"level": "NORMAL", "reason": "..."}"#).await?;
    let level: RiskLevel = b.level.parse().map_err(ApiError::invalid)?;
    let m = ResetRisk {
        level,
        reason: reason(b.reason, true)?,
    };
    risk_answer(st.risk.ask_timeout(m, ASK_TIMEOUT).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModeBody {
    mode: String,
    reason: Option<String>,
}

async fn mode(req: HttpRequest, st: web::Data<ApiState>, payload: web::Payload) -> Answer {
    authorize(&req, &st)?;
    let b: ModeBody = required(payload, r#"{"mode": "MICRO"} or {"mode": "auto"}"#).await?;
    let m = SetMode {
        choice: st.tiers.choice(&b.mode).map_err(ApiError::invalid)?,
        reason: reason(b.reason, false)?,
    };
    let out = st
        .mode
        .ask_timeout(m, ASK_TIMEOUT)
        .await?
        .map_err(|e: ModeError| ApiError::unavailable(e.to_string()))?;
    Ok(HttpResponse::Ok().json(json!({"mode": mode_json(&out.mode), "changed": out.changed})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultBody {
    path: String,
    kind: String,
    count: Option<u32>,
    ms: Option<u64>,
}

async fn faults(req: HttpRequest, st: web::Data<ApiState>, payload: web::Payload) -> Answer {
    authorize(&req, &st)?;
    if let Err(why) = &st.faults {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            why.clone(),
        ));
    }
    let b: FaultBody = required(
        payload,
        r#"{"path": "master/engines/KC/analyzer", "kind": "panic"}"#,
    )
    .await?;
    let kind: FaultKind = b.kind.parse().map_err(ApiError::invalid)?;
    let fault = Fault {
        kind,
        count: b.count.unwrap_or(1),
        ms: b.ms.unwrap_or(0),
    };
    match st.kernel.inject(&b.path, fault).await {
        Ok(()) => Ok(HttpResponse::Ok().json(json!({"injected": {
            "path": b.path, "kind": kind.as_str(), "count": fault.count, "ms": fault.ms,
        }}))),
        Err(e @ KernelError::UnknownPath(_)) => Err(ApiError::not_found(e.to_string())),
        Err(e @ KernelError::InvalidFault(_)) => Err(ApiError::invalid(e.to_string())),
        Err(e @ (KernelError::NotRunning(_) | KernelError::Refused(_))) => {
            Err(ApiError::conflict(format!("{e}; retry when it runs")))
        }
    }
}

async fn shutdown(req: HttpRequest, st: web::Data<ApiState>, payload: web::Payload) -> Answer {
    authorize(&req, &st)?;
    let b: ReasonBody = body(payload).await?.unwrap_or_default();
    let reason = reason(b.reason, false)?;
    if st.lifecycle.is_stopping() {
        return Err(control_error(ControlError::ShuttingDown));
    }
    // Through `control` when it answers; if it cannot (restarting, hung), the
    // operator must still be able to stop the daemon.
    match st
        .control
        .ask_timeout(
            Shutdown {
                reason: reason.clone(),
            },
            ASK_TIMEOUT,
        )
        .await
    {
        Ok(r) => r.map_err(control_error)?,
        Err(e) => {
            // Not stopping when this request began: if it is now, `control`
            // handled this very request late. Either way the shutdown is under way.
            tracing::warn!(error = %e, "control did not answer; beginning the shutdown directly");
            st.lifecycle.begin_shutdown();
            st.kernel.events().publish(
                OPERATOR,
                "master/control",
                format!("shutdown: {reason} (begun by the API: control did not answer)"),
            );
        }
    }
    Ok(HttpResponse::Accepted().json(json!({"shutting_down": true, "reason": reason})))
}
