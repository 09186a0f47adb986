//! The bearer token check every endpoint but `/healthz`, `/readyz` and the
//! dashboard's page and assets (`/ui`, `/ui/app.js`, `/ui/style.css`: no data)
//! makes first.
//!
//! Invariant: a request passes only with `Authorization: Bearer <the daemon's
//! token>`; the scheme is matched case-insensitively (RFC 7235) and the token in
//! time independent of where it differs ([`token::matches`]).

use super::errors::ApiError;
use super::ApiState;
use crate::token;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpRequest;

pub(super) fn authorize(req: &HttpRequest, st: &ApiState) -> Result<(), ApiError> {
    check(req.headers().get(header::AUTHORIZATION), &st.token.value)
}

/// The check itself, on the header's value (if any) and the daemon's token.
fn check(value: Option<&HeaderValue>, token_value: &str) -> Result<(), ApiError> {
    let unauthorized = |m: String| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m);
    let Some(value) = value else {
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
    if token::matches(token_value, given) {
        Ok(())
    } else {
        Err(unauthorized(
            "wrong token; use the daemon's: control.token_file (default <data_dir>/control.token) or COMMODORE_CONTROL_TOKEN".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::ResponseError;

    fn passes(header: Option<&'static str>) -> bool {
        let value = header.map(HeaderValue::from_static);
        check(value.as_ref(), "s3cret").is_ok()
    }

    #[test]
    fn only_the_bearer_scheme_with_the_daemon_token_passes() {
        assert!(passes(Some("Bearer s3cret")));
        assert!(passes(Some("bEARER s3cret")));
        assert!(!passes(None));
        assert!(!passes(Some("Basic s3cret")));
        assert!(!passes(Some("Bearer s3cre")));
        assert!(!passes(Some("s3cret")));
        let e = check(None, "s3cret").unwrap_err();
        assert_eq!(e.status_code(), StatusCode::UNAUTHORIZED);
    }
}
