//! `GET /v1/events/stream?since=N&tail=M`: the journaled events as they come,
//! as server-sent events (`text/event-stream`), each `id: <seq>` and
//! `data: <the same JSON as an item of GET /v1/events>`.
//!
//! Where the events come from: the journal, as for `GET /v1/events`, so a
//! stream never shows an event a crash could renumber. The kernel's bus says
//! when there is something new (its next `seq`, a lock and a read, every
//! [`POLL`]); only then is the journal asked to flush, and the stream sends
//! the journaled events up to the last `seq` that flush wrote. The journal
//! writes in `seq` order, so everything up to it is in the file (an event
//! its owner journaled itself, durably, may be there before an older one
//! the worker has yet to write; it waits for the flush that covers it), and
//! a stream never skips one. An idle daemon costs a stream one lock a tick.
//! A subscription to the bus would wake the stream sooner, but it carries
//! events not yet journaled, and would need the same flush and read anyway.
//!
//! Invariant: at most [`MAX_STREAMS`] streams at once (another is a 503
//! `too_many_streams`, which says what to do); each write at most [`BATCH`]
//! events; a comment every [`KEEP_ALIVE`] when there is nothing to send (a
//! dead client is found by a failing write); a client that takes nothing for
//! [`SEND_TIMEOUT`] is dropped; a stream ends after [`LIFETIME`] and when the
//! daemon shuts down. A client resumes with `since=<the last id it read>`
//! (or `Last-Event-ID`). Times are the wall clock's ([`ApiState::wall`]).

use super::auth::authorize;
use super::errors::{Answer, ApiError};
use super::reads::{event_json, read_events};
use super::{ApiState, ASK_TIMEOUT};
use actix_web::body::{BodySize, MessageBody};
use actix_web::http::{header, StatusCode};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use commodore_actors::journal::Flush;
use commodore_actors::kernel::Event;
use serde::Deserialize;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;

/// Streams served at once (dashboards and scripts together).
pub const MAX_STREAMS: usize = 8;
/// How often a stream looks for new events.
pub const POLL: Duration = Duration::from_millis(250);
/// Events per write at most; a backlog goes out in writes of this many.
pub const BATCH: usize = 100;
/// With nothing to send, a comment this often keeps the connection (and
/// proxies) awake and finds a client that has gone.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// A client that takes no write for this long is dropped.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// A stream ends after this long; the client resumes from its last id.
pub const LIFETIME: Duration = Duration::from_secs(30 * 60);
/// `tail` at most: the newest events a stream may start with.
pub const MAX_TAIL: u64 = 1000;
/// What the client's browser waits before it reconnects, should it use
/// `EventSource` (the dashboard reconnects on its own).
const RETRY_MS: u64 = 2000;

/// The streams open now, counted by their [`Slot`]s.
#[derive(Default)]
pub struct Streams {
    open: AtomicUsize,
}

impl Streams {
    /// A slot, unless [`MAX_STREAMS`] are open.
    fn take(st: &web::Data<ApiState>) -> Option<Slot> {
        st.streams
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_STREAMS).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(st.clone()))
    }
}

/// One open stream; given back when the stream ends, however it ends.
struct Slot(web::Data<ApiState>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.streams.open.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamQuery {
    since: Option<u64>,
    tail: Option<u64>,
}

/// `GET /v1/events/stream`.
pub(super) async fn events_stream(req: HttpRequest, st: web::Data<ApiState>) -> Answer {
    authorize(&req, &st)?;
    let q = web::Query::<StreamQuery>::from_query(req.query_string()).map_err(|e| {
        ApiError::bad_request(format!(
            "bad query ({e}); use ?since=<seq> and/or &tail=<0..={MAX_TAIL}>"
        ))
    })?;
    let last_event_id = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.trim().parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!("Last-Event-ID {v:?} is not an event's seq"))
            })
        })
        .transpose()?;
    if let Some(t) = q.tail.filter(|t| *t > MAX_TAIL) {
        return Err(ApiError::invalid(format!(
            "tail must be between 0 and {MAX_TAIL}, got {t}"
        )));
    }
    if st.lifecycle.is_stopping() {
        return Err(ApiError::unavailable(
            "the daemon is shutting down; no new event streams",
        ));
    }
    let Some(slot) = Streams::take(&st) else {
        return Err(too_many());
    };
    let mut since = q.since.or(last_event_id).unwrap_or(0);
    // Two writes in hand at most: a slow client holds the pump back (and
    // past SEND_TIMEOUT, ends it), it never piles up events in memory.
    let (tx, rx) = mpsc::channel(2);
    if since > 0 || q.tail.is_some() {
        // The newest journaled seq: what a flush wrote, or, if the journal
        // does not answer now, the bus's newest (a start point only).
        let newest = match st.journal_worker.ask_timeout(Flush, ASK_TIMEOUT).await {
            Ok(written) => written,
            Err(_) => st.kernel.events().next_seq().saturating_sub(1),
        };
        if since > newest {
            // A seq this journal never wrote: the client's is another
            // journal's (`run --fresh`, a new data dir). It is told, and
            // reads this journal from its start (or its tail).
            let _ = tx.try_send(Bytes::from(reset(since, newest)));
            since = 0;
        }
        if let Some(tail) = q.tail {
            since = since.max(newest.saturating_sub(tail));
        }
    }
    actix_rt::spawn(pump(st.clone(), slot, since, tx));
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("x-accel-buffering", "no"))
        .body(SseBody(rx)))
}

fn too_many() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "too_many_streams",
        format!(
            "{MAX_STREAMS} event streams are open already, the most the daemon serves; \
             close one (another dashboard tab, a script) and retry, or poll GET /v1/events?since=N"
        ),
    )
}

/// The stream's first write when the client's `since` is past this
/// journal's newest event: an SSE event of type `reset`.
fn reset(since: u64, newest: u64) -> String {
    format!("event: reset\ndata: {{\"since\": {since}, \"newest\": {newest}}}\n\n")
}

/// One event as server-sent: its `seq` as the id, its JSON on one line.
fn sse(e: &Event) -> String {
    format!("id: {}\ndata: {}\n\n", e.seq, event_json(e))
}

/// Sends one write; `false` when the client is gone or took nothing for
/// [`SEND_TIMEOUT`].
async fn send(tx: &mpsc::Sender<Bytes>, text: String) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, tx.send(Bytes::from(text))).await,
        Ok(Ok(()))
    )
}

/// The journaled events after `cursor`: at most [`BATCH`], only up to what a
/// flush has written (`None`: the journal did not answer; try again next
/// tick). Also where the cursor goes next, and whether more are waiting.
async fn next_batch(st: &web::Data<ApiState>, cursor: u64) -> Option<(Vec<Event>, u64, bool)> {
    let written = match st.journal_worker.ask_timeout(Flush, ASK_TIMEOUT).await {
        Ok(w) => w,
        Err(e) => {
            tracing::debug!(error = %e, "event stream: the journal did not flush; next tick");
            return None;
        }
    };
    if written <= cursor {
        return Some((Vec::new(), cursor, false));
    }
    let state = st.clone();
    let rows = match web::block(move || read_events(&state, cursor, BATCH)).await {
        Ok(Ok(rows)) => rows,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "event stream: cannot read the journal; next tick");
            return None;
        }
        Err(e) => {
            tracing::warn!(error = %e, "event stream: cannot read the journal; next tick");
            return None;
        }
    };
    Some(take_written(rows, cursor, written))
}

/// Of `rows` (the journal's first [`BATCH`] after `cursor`), those the flush
/// that answered `written` covers; the next cursor; whether more wait.
fn take_written(rows: Vec<Event>, cursor: u64, written: u64) -> (Vec<Event>, u64, bool) {
    let full = rows.len() == BATCH;
    let kept: Vec<Event> = rows.into_iter().filter(|e| e.seq <= written).collect();
    match kept.last() {
        // A whole batch, all of it written before: more may follow at once.
        Some(last) if full && kept.len() == BATCH && last.seq < written => {
            let next = last.seq;
            (kept, next, true)
        }
        // Everything up to `written` is read (numbers with no row are events
        // the journal never got: a gap it logged).
        _ => (kept, written.max(cursor), false),
    }
}

/// Feeds one stream until its client goes, the daemon stops or its
/// [`LIFETIME`] is over. Holds its [`Slot`] until then.
async fn pump(st: web::Data<ApiState>, _slot: Slot, mut cursor: u64, tx: mpsc::Sender<Bytes>) {
    let started = st.wall.now_ms();
    let mut last_write = started;
    let hello = format!("retry: {RETRY_MS}\n: commodore events after seq {cursor}\n\n");
    if !send(&tx, hello).await {
        return;
    }
    let keep_alive = KEEP_ALIVE.as_millis() as u64;
    let lifetime = LIFETIME.as_millis() as u64;
    loop {
        // A shutdown ends every stream at once: the journal stops with the
        // tree, and the server waits only briefly for open connections.
        if st.lifecycle.is_stopping() {
            let _ = send(&tx, ": the daemon is shutting down\n\n".to_owned()).await;
            return;
        }
        let now = st.wall.now_ms();
        if now.saturating_sub(started) >= lifetime {
            let bye = format!(
                ": stream over after {} s; resume with since=<last id>\n\n",
                LIFETIME.as_secs()
            );
            let _ = send(&tx, bye).await;
            return;
        }
        let mut more = false;
        let newest = st.kernel.events().next_seq().saturating_sub(1);
        if newest > cursor {
            if let Some((events, next, again)) = next_batch(&st, cursor).await {
                cursor = next;
                more = again;
                if !events.is_empty() {
                    let text: String = events.iter().map(sse).collect();
                    if !send(&tx, text).await {
                        return;
                    }
                    last_write = now;
                }
            }
        }
        if now.saturating_sub(last_write) >= keep_alive {
            if !send(&tx, ": keep-alive\n\n".to_owned()).await {
                return;
            }
            last_write = now;
        }
        if more {
            continue;
        }
        // The next tick, or at once when the body (and with it the
        // receiver) is dropped: actix drops it when a write to a client
        // that has gone fails, so on an idle stream at the next
        // keep-alive, not when the client leaves.
        if tokio::time::timeout(POLL, tx.closed()).await.is_ok() {
            return;
        }
    }
}

/// The response body: what the pump sends, as it comes; it ends when the
/// pump does.
struct SseBody(mpsc::Receiver<Bytes>);

impl MessageBody for SseBody {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        self.0.poll_recv(cx).map(|chunk| chunk.map(Ok))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commodore_actors::kernel::EventKind;

    fn ev(seq: u64) -> Event {
        Event {
            seq,
            at_ms: 0,
            kind: EventKind::Started,
            path: "master/x".into(),
            detail: "a\nb".into(),
        }
    }

    #[test]
    fn an_event_is_one_id_and_one_data_line() {
        let text = sse(&ev(7));
        assert!(text.starts_with("id: 7\ndata: {"), "{text}");
        assert!(text.ends_with("}\n\n"), "{text}");
        // A newline in the detail stays escaped inside the JSON.
        assert_eq!(text.matches('\n').count(), 3, "{text}");
        let data: serde_json::Value =
            serde_json::from_str(text.trim_end().split_once("data: ").unwrap().1).unwrap();
        assert_eq!(data["seq"], 7);
        assert_eq!(data["kind"], "started");
    }

    #[test]
    fn only_what_a_flush_wrote_is_sent_and_the_cursor_never_skips() {
        // A durable event (9) journaled before 7 and 8 are written: not sent
        // until the flush that covers it; the cursor stays at what was written.
        let (kept, next, more) = take_written(vec![ev(5), ev(6), ev(9)], 4, 6);
        assert_eq!(kept.iter().map(|e| e.seq).collect::<Vec<_>>(), [5, 6]);
        assert_eq!((next, more), (6, false));
        // Numbers with no row (a gap the journal logged) are passed over.
        let (kept, next, more) = take_written(vec![ev(12)], 6, 12);
        assert_eq!((kept.len(), next, more), (1, 12, false));
        let (kept, next, _) = take_written(Vec::new(), 12, 15);
        assert_eq!((kept.len(), next), (0, 15));
        // A whole batch below what was written: more at once, from its last.
        let rows: Vec<Event> = (1..=BATCH as u64).map(ev).collect();
        let (kept, next, more) = take_written(rows, 0, 500);
        assert_eq!((kept.len(), next, more), (BATCH, BATCH as u64, true));
    }
}
