//! What keeps the control API answering while other local processes hold
//! connections open on purpose (slow headers, bodies never finished).
//!
//! Invariant: every connection is bounded in time by the server, whatever its
//! client does: [`HEAD_TIMEOUT`] to send the request head (else 408 and closed),
//! one request per connection (no keep-alive, so no unbounded second head),
//! [`BODY_TIMEOUT`] to send a body an endpoint reads (else 408 in the contract's
//! shape), and a body an endpoint does not read (a `GET` with a chunked body, a
//! refused command) closes the connection right after the answer instead of being
//! drained for as long as the client trickles it. With time bounded, capacity
//! ([`capacity`]) is what keeps an operator's request from waiting behind stalled
//! ones: hundreds of connections, within the process's file limit.
//!
//! No per-peer connection count: every local client, the operator's `ctl`
//! included, is 127.0.0.1, so a count per address would lock the operator out
//! with the process that fills it.

use super::errors::ApiError;
use super::MAX_BODY_BYTES;
use actix_web::body::{to_bytes_limited, BodySize, BodyStream, BoxBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpMessage, HttpRequest};
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

/// A client has this long to send a request's head (line and headers).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// An endpoint that reads a body waits this long for all of it.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(5);
/// After the answer, a closing connection gets this long to go.
pub const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Worker threads of the API (each accepts and serves its share of connections).
pub const WORKERS: usize = 2;
/// File descriptors left to the rest of the daemon (journal, order logs, the
/// feed, the LLM and webhook clients) when the connection capacity is set.
pub const RESERVED_FILES: u64 = 256;
/// Connection capacity bounds (all workers together).
pub const MIN_CONNECTIONS: usize = 256;
pub const MAX_CONNECTIONS: usize = 4096;

/// Connections served at once, all workers together: the open-files limit less
/// [`RESERVED_FILES`], within [`MIN_CONNECTIONS`]..=[`MAX_CONNECTIONS`].
/// `open_files`: the process's soft `RLIMIT_NOFILE`, if known.
pub fn capacity(open_files: Option<u64>) -> usize {
    let fit = open_files
        .map(|n| n.saturating_sub(RESERVED_FILES))
        .unwrap_or(1024 - RESERVED_FILES);
    usize::try_from(fit)
        .unwrap_or(MAX_CONNECTIONS)
        .clamp(MIN_CONNECTIONS, MAX_CONNECTIONS)
}

/// The soft open-files limit from `/proc/self/limits` (Linux); `None` elsewhere
/// or when it cannot be read.
pub fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    soft_open_files(&text)
}

fn soft_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    match soft {
        "unlimited" => Some(u64::MAX),
        n => n.parse().ok(),
    }
}

/// The request's body, kept by [`hold_body`] until the answer is written.
#[derive(Clone)]
struct HeldBody(Rc<RefCell<Payload>>);

/// Middleware: takes the request's body out of the request and keeps it alive
/// until the answer has been written. An endpoint reads it through
/// [`read_body`]. A body still unfinished when the answer is written then closes
/// the connection after the answer; actix-http would otherwise drain a dropped
/// chunked body for as long as its client keeps it coming, with no timer.
pub fn hold_body<S, B>(
    mut req: ServiceRequest,
    srv: &S,
) -> impl Future<Output = Result<ServiceResponse<Holding>, actix_web::Error>>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    let held = HeldBody(Rc::new(RefCell::new(req.take_payload())));
    req.extensions_mut().insert(held.clone());
    let answer = srv.call(req);
    async move {
        let res = answer.await?;
        Ok(res.map_body(|_, body| Holding {
            body: body.boxed(),
            _held: held,
        }))
    }
}

/// An answer's body that holds the request's body while it is written: actix-http
/// decides between closing and draining when the answer ends.
pub struct Holding {
    body: BoxBody,
    _held: HeldBody,
}

impl MessageBody for Holding {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.body).poll_next(cx)
    }
}

/// The whole body of `req` (at most [`MAX_BODY_BYTES`], within [`BODY_TIMEOUT`]).
pub(super) async fn read_body(req: &HttpRequest) -> Result<Bytes, ApiError> {
    let Some(held) = req.extensions().get::<HeldBody>().cloned() else {
        // Not behind `hold_body` (a handler test): no body.
        return Ok(Bytes::new());
    };
    // Out of the cell while it is read (no borrow across the await), and back in
    // it after, finished or not, so an unfinished body is still held.
    let mut payload = held.0.replace(Payload::None);
    let read = actix_rt::time::timeout(
        BODY_TIMEOUT,
        to_bytes_limited(BodyStream::new(&mut payload), MAX_BODY_BYTES),
    )
    .await;
    held.0.replace(payload);
    match read {
        Err(_elapsed) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the body did not arrive within {} s; send it whole with the request",
                BODY_TIMEOUT.as_secs()
            ),
        )),
        Ok(Err(_over)) => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is over {MAX_BODY_BYTES} bytes"),
        )),
        Ok(Ok(Err(e))) => Err(ApiError::bad_request(format!("cannot read the body: {e}"))),
        Ok(Ok(Ok(bytes))) => Ok(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_follows_the_open_files_limit_within_bounds() {
        assert_eq!(capacity(Some(1024)), 1024 - RESERVED_FILES as usize);
        assert_eq!(capacity(Some(20_000)), MAX_CONNECTIONS);
        assert_eq!(capacity(Some(u64::MAX)), MAX_CONNECTIONS);
        assert_eq!(capacity(Some(300)), MIN_CONNECTIONS);
        assert_eq!(capacity(None), 1024 - RESERVED_FILES as usize);
    }

    #[test]
    fn the_soft_open_files_limit_is_read_from_proc_limits() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max processes             63432                63432                processes \n\
                    Max open files            1024                 524288               files     \n";
        assert_eq!(soft_open_files(text), Some(1024));
        let text = "Max open files            unlimited            unlimited            files\n";
        assert_eq!(soft_open_files(text), Some(u64::MAX));
        assert_eq!(soft_open_files("nothing here"), None);
    }
}
