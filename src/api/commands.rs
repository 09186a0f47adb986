//! The commands: pause/resume and stop/start an engine, escalate/reset the risk level, set the
//! mode, inject a fault, shut down.
//!
//! Invariant: a command holds no state; it is an ask, with [`ASK_TIMEOUT`], to
//! the one actor that owns what it changes (`control`, `portfolio_risk`, `mode`,
//! the kernel for faults). An owner that does not answer is a 503 that says
//! retry, except for the shutdown, which an operator can always begin.

use super::auth::authorize;
use super::errors::{body, control_error, required, Answer, ApiError};
use super::reads::{engine_json, mode_json, risk_json};
use super::{ApiState, ASK_TIMEOUT, MAX_REASON_CHARS};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use commodore_actors::control::{
    ControlError, FlattenEngine, PauseEngine, ResumeEngine, Shutdown, StartEngine, StopEngine,
};
use commodore_actors::events::OPERATOR;
use commodore_actors::kernel::{Fault, FaultKind, KernelError};
use commodore_actors::mode::{ModeError, SetMode};
use commodore_actors::model::RiskLevel;
use commodore_actors::risk::{Escalate, ResetRisk, RiskError, RiskOutcome};
use serde::Deserialize;
use serde_json::json;

/// The operator's reason, trimmed; it goes into the journal, so it is bounded,
/// and where the change is one only a reason can justify it is `required`.
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

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    reason: Option<String>,
}

/// What an operator asks of one engine.
#[derive(Clone, Copy)]
enum EngineVerb {
    Pause,
    Flatten,
    Resume,
    Stop,
    Start,
}

pub(super) async fn pause(req: HttpRequest, st: web::Data<ApiState>) -> Answer {
    engine_command(req, st, EngineVerb::Pause).await
}

/// Pauses the engine and closes every position it holds, at market (202:
/// the orders are under way; `GET /v1/status` shows the positions go).
pub(super) async fn flatten(req: HttpRequest, st: web::Data<ApiState>) -> Answer {
    engine_command(req, st, EngineVerb::Flatten).await
}

pub(super) async fn resume(req: HttpRequest, st: web::Data<ApiState>) -> Answer {
    engine_command(req, st, EngineVerb::Resume).await
}

pub(super) async fn stop(req: HttpRequest, st: web::Data<ApiState>) -> Answer {
    engine_command(req, st, EngineVerb::Stop).await
}

pub(super) async fn start(req: HttpRequest, st: web::Data<ApiState>) -> Answer {
    engine_command(req, st, EngineVerb::Start).await
}

/// One engine command through `control`. Pause and resume take effect before
/// the answer (200); stop and start are carried out after it (202: `GET
/// /v1/status` shows the subtree stopping or starting).
async fn engine_command(req: HttpRequest, st: web::Data<ApiState>, verb: EngineVerb) -> Answer {
    authorize(&req, &st)?;
    let b: ReasonBody = body(&req).await?.unwrap_or_default();
    let engine = req.match_info().get("id").unwrap_or_default().to_owned();
    let reason = reason(b.reason, false)?;
    let c = &st.control;
    let asked = match verb {
        EngineVerb::Pause => {
            c.ask_timeout(PauseEngine { engine, reason }, ASK_TIMEOUT)
                .await
        }
        EngineVerb::Resume => {
            c.ask_timeout(ResumeEngine { engine, reason }, ASK_TIMEOUT)
                .await
        }
        EngineVerb::Flatten => {
            c.ask_timeout(FlattenEngine { engine, reason }, ASK_TIMEOUT)
                .await
        }
        EngineVerb::Stop => {
            c.ask_timeout(StopEngine { engine, reason }, ASK_TIMEOUT)
                .await
        }
        EngineVerb::Start => {
            c.ask_timeout(StartEngine { engine, reason }, ASK_TIMEOUT)
                .await
        }
    };
    let out = asked?.map_err(control_error)?;
    let mut e = engine_json(&st, &out.engine);
    e["stopped"] = json!(out.stopped);
    let answer = json!({"engine": e, "changed": out.changed});
    Ok(match verb {
        EngineVerb::Pause | EngineVerb::Resume => HttpResponse::Ok().json(answer),
        EngineVerb::Stop | EngineVerb::Start | EngineVerb::Flatten => {
            HttpResponse::Accepted().json(answer)
        }
    })
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

pub(super) async fn escalate(req: HttpRequest, st: web::Data<ApiState>) -> Answer {
    authorize(&req, &st)?;
    let b: LevelBody = required(&req, r#"{"level": "HALT", "reason": "..."}"#).await?;
    let level: RiskLevel = b.level.parse().map_err(ApiError::invalid)?;
    let m = Escalate {
        level,
        reason: reason(b.reason, true)?,
        source: "operator".to_owned(),
    };
    risk_answer(st.risk.ask_timeout(m, ASK_TIMEOUT).await?)
}

pub(super) async fn reset(req: HttpRequest, st: web::Data<ApiState>) -> Answer {
    authorize(&req, &st)?;
    let b: LevelBody = required(&req, r#"{"level": "NORMAL", "reason": "..."}"#).await?;
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

pub(super) async fn mode(req: HttpRequest, st: web::Data<ApiState>) -> Answer {
    authorize(&req, &st)?;
    let b: ModeBody = required(&req, r#"{"mode": "MICRO"} or {"mode": "auto"}"#).await?;
    let m = SetMode {
        choice: st
            .live
            .mode
            .borrow()
            .0
            .choice(&b.mode)
            .map_err(ApiError::invalid)?,
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

pub(super) async fn faults(req: HttpRequest, st: web::Data<ApiState>) -> Answer {
    authorize(&req, &st)?;
    if let Err(why) = &st.faults {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            why.clone(),
        ));
    }
    let b: FaultBody = required(
        &req,
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

pub(super) async fn shutdown(req: HttpRequest, st: web::Data<ApiState>) -> Answer {
    authorize(&req, &st)?;
    let b: ReasonBody = body(&req).await?.unwrap_or_default();
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

/// `POST /v1/config/reload`: the same `--config` files and the environment,
/// checked whole and applied by their owners, or nothing at all (422 with
/// every error; 409 when an engine to remove is not flat).
pub(super) async fn reload(req: HttpRequest, st: web::Data<ApiState>) -> Answer {
    authorize(&req, &st)?;
    let b: ReasonBody = body(&req).await?.unwrap_or_default();
    let why = reason(b.reason, false)?;
    match st.reloader.reload(&why).await {
        Ok(done) => Ok(HttpResponse::Ok().json(json!(done))),
        Err(e @ crate::assemble::ReloadError::Holding(_)) => {
            Err(ApiError::conflict(e.message()).with_errors(e.errors()))
        }
        Err(e @ crate::assemble::ReloadError::Refused(_)) => {
            Err(ApiError::unavailable(e.message()).with_errors(e.errors()))
        }
        Err(e) => Err(ApiError::new(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_config",
            e.message(),
        )
        .with_errors(e.errors())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_trimmed_bounded_and_required_where_it_is_journaled() {
        assert_eq!(reason(None, false).unwrap(), "operator");
        assert_eq!(reason(Some("  ".into()), false).unwrap(), "operator");
        assert_eq!(reason(Some(" why ".into()), true).unwrap(), "why");
        assert!(reason(None, true).is_err());
        assert!(reason(Some("x".repeat(MAX_REASON_CHARS)), true).is_ok());
        let e = reason(Some("x".repeat(MAX_REASON_CHARS + 1)), false).unwrap_err();
        assert!(e.to_string().starts_with("invalid_value: "), "{e}");
    }
}
