//! The contract's error answer, `{"error": {"code", "message"}}`, and the reading
//! of request bodies that produces most of them.
//!
//! Invariant: every refusal the API gives goes through [`ApiError`], so every
//! error body has the one shape OPERATOR_API.md promises (a 401 also names the
//! `Bearer` scheme), and no body over [`MAX_BODY_BYTES`](super::MAX_BODY_BYTES)
//! is ever buffered. Outside the App, the 400 (malformed request line or
//! headers), 408 (head not sent within
//! [`HEAD_TIMEOUT`](super::limits::HEAD_TIMEOUT)) and 431 (head over actix-http's
//! limits) that actix-http's HTTP/1 connection handler writes itself, with an
//! empty body, before any request exists, are rewritten on the wire by
//! [`wire`](super::wire) into the same shape, from [`error_body`] (actix-http 3
//! has no hook for them).

use super::limits::read_body;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use commodore_actors::control::ControlError;
use commodore_actors::kernel::CallError;
use serde::de::DeserializeOwned;
use serde_json::json;

/// An error answer of the contract: `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// Every error behind it, when there are several (a reload's), listed
    /// beside `error` as `errors`.
    errors: Vec<String>,
}

impl ApiError {
    pub(super) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            errors: Vec::new(),
        }
    }
    /// With every error behind it (`errors` in the body).
    pub(super) fn with_errors(mut self, errors: Vec<String>) -> ApiError {
        self.errors = errors;
        self
    }
    pub(super) fn bad_request(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", m)
    }
    pub(super) fn invalid(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", m)
    }
    pub(super) fn not_found(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", m)
    }
    pub(super) fn conflict(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", m)
    }
    pub(super) fn unavailable(m: impl Into<String>) -> ApiError {
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
        let mut body = error_body(self.code, &self.message);
        if !self.errors.is_empty() {
            body["errors"] = json!(self.errors);
        }
        r.json(body)
    }
}

/// The contract's error body: `{"error": {"code", "message"}}`.
pub(super) fn error_body(code: &str, message: &str) -> serde_json::Value {
    json!({"error": {"code": code, "message": message}})
}

impl From<CallError> for ApiError {
    fn from(e: CallError) -> ApiError {
        ApiError::unavailable(format!("{e}; retry shortly"))
    }
}

pub(super) type Answer = Result<HttpResponse, ApiError>;

/// `control`'s refusals in the contract's status codes.
pub(super) fn control_error(e: ControlError) -> ApiError {
    match e {
        ControlError::UnknownEngine { .. } => ApiError::not_found(e.to_string()),
        ControlError::EngineFailed(_)
        | ControlError::ShuttingDown
        | ControlError::EngineDown(_) => ApiError::conflict(e.to_string()),
        ControlError::Journal(_) => ApiError::unavailable(e.to_string()),
    }
}

/// Reads a JSON body of at most [`MAX_BODY_BYTES`](super::MAX_BODY_BYTES) within
/// [`BODY_TIMEOUT`](super::limits::BODY_TIMEOUT) (else 413, 408). Not JSON → 400;
/// JSON with missing, unknown or mistyped fields → 422. An empty body is `None`.
pub(super) async fn body<T: DeserializeOwned>(req: &HttpRequest) -> Result<Option<T>, ApiError> {
    parse_body(&read_body(req).await?)
}

/// The JSON part of [`body`], apart so it can be tested without a request.
fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<Option<T>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(bytes).map(Some).map_err(|e| {
        if e.is_data() {
            ApiError::invalid(format!("the body does not fit this endpoint: {e}"))
        } else {
            ApiError::bad_request(format!("the body is not valid JSON: {e}"))
        }
    })
}

/// A body the endpoint cannot do without; `example` shows the caller its shape.
pub(super) async fn required<T: DeserializeOwned>(
    req: &HttpRequest,
    example: &str,
) -> Result<T, ApiError> {
    body(req).await?.ok_or_else(|| {
        ApiError::bad_request(format!("this endpoint needs a JSON body like {example}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Level {
        #[allow(dead_code)]
        level: String,
    }

    #[test]
    fn an_unauthorized_answer_names_the_bearer_scheme() {
        let r = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "no").error_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers().get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
        let r = ApiError::conflict("busy").error_response();
        assert_eq!(r.status(), StatusCode::CONFLICT);
        assert!(r.headers().get(header::WWW_AUTHENTICATE).is_none());
    }

    #[test]
    fn control_refusals_map_to_the_contract_codes() {
        assert_eq!(
            control_error(ControlError::ShuttingDown).status_code(),
            StatusCode::CONFLICT
        );
    }

    #[test]
    fn bodies_are_absent_malformed_or_ill_fitting() {
        assert!(parse_body::<Level>(b" \n").unwrap().is_none());
        let e = parse_body::<Level>(b"{not json").unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::BAD_REQUEST, "bad_request"));
        let e = parse_body::<Level>(br#"{"level": 1}"#).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        let e = parse_body::<Level>(br#"{"level": "HALT", "x": 1}"#).unwrap_err();
        assert_eq!(e.code, "invalid_value");
        assert!(parse_body::<Level>(br#"{"level": "HALT"}"#)
            .unwrap()
            .is_some());
    }
}
