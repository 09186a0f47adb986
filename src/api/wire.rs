//! The contract's error shape for the answers actix-http writes itself.
//!
//! actix-http's HTTP/1 connection handler answers a malformed request head (400),
//! a head too large (431) and a head that does not arrive within
//! [`HEAD_TIMEOUT`] (408) on its own, before any request reaches the App, with an
//! empty body, and has no hook to change that. [`Shaped`] sits between it and the
//! socket and rewrites exactly those answers into `{"error": {"code",
//! "message"}}`.
//!
//! Invariant: only the first answer of a connection is looked at (keep-alive is
//! off, so it is the only one), and only one whose status line is 400, 408 or 431
//! and whose head says `content-length: 0` is replaced, by a whole answer with
//! the same status line, `content-type: application/json`, `connection: close`
//! and the JSON body. Every answer of the App has a body, so none is ever
//! rewritten. Bytes are reported written only once what stands for them has
//! gone to the socket, so actix-http's "write buffer empty" still means "sent".

use super::errors::error_body;
use super::limits::HEAD_TIMEOUT;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// actix-http 3's bounds on a request head (`h1/decoder.rs`): over either is a
/// 431. Only quoted in the 431's message.
const MAX_HEADER_LINES: usize = 96;
const MAX_HEAD_KIB: usize = 128;

/// A head with one of the statuses rewritten but no end within this many bytes
/// is not one of actix-http's own answers (those are a few lines) and is let
/// through as it is.
const MAX_WATCHED_HEAD: usize = 8 * 1024;

/// Status lines of the answers rewritten (`HTTP/1.x NNN `).
const WATCHED: [&[u8]; 6] = [
    b"HTTP/1.1 400 ",
    b"HTTP/1.1 408 ",
    b"HTTP/1.1 431 ",
    b"HTTP/1.0 400 ",
    b"HTTP/1.0 408 ",
    b"HTTP/1.0 431 ",
];
const STATUS_LINE_PREFIX: usize = 13;

/// A connection's stream, as actix-http's HTTP/1 handler sees it: reads pass
/// through; the first answer written is watched (module doc).
pub struct Shaped<T> {
    io: T,
    watch: Watch,
    /// Bytes due to `io` before anything else (a rewritten answer, or a head
    /// held while it was being recognised), and how many of them went.
    owed: Vec<u8>,
    sent: usize,
    /// How many bytes at the front of the next write were already taken into
    /// `owed` (the write that completed it returned `Pending` before `owed`
    /// went): reported written once `owed` has gone.
    absorbed: usize,
}

enum Watch {
    /// The first answer's head so far (empty: nothing written yet).
    Head(Vec<u8>),
    /// Not an answer to rewrite: everything passes through.
    Pass,
    /// Rewritten: the original answer, and anything after it, goes nowhere.
    Replaced,
}

impl<T> Shaped<T> {
    pub fn new(io: T) -> Shaped<T> {
        Shaped {
            io,
            watch: Watch::Head(Vec::new()),
            owed: Vec::new(),
            sent: 0,
            absorbed: 0,
        }
    }
}

impl<T: AsyncWrite + Unpin> Shaped<T> {
    /// Writes what is owed to `io`; `Ready(Ok)` once all of it went.
    fn poll_owed(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.owed.len() {
            match ready!(Pin::new(&mut self.io).poll_write(cx, &self.owed[self.sent..]))? {
                0 => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                n => self.sent += n,
            }
        }
        if !self.owed.is_empty() {
            self.owed = Vec::new();
            self.sent = 0;
        }
        Poll::Ready(Ok(()))
    }

    /// A flush with the first head still unrecognised: stop watching and let
    /// the head through as it is (actix-http writes a whole head before it
    /// flushes, so this is only a safeguard).
    fn stop_watching(&mut self) {
        if let Watch::Head(head) = &mut self.watch {
            if !head.is_empty() {
                self.owed = std::mem::take(head);
                self.sent = 0;
                self.watch = Watch::Pass;
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Shaped<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Shaped<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_owed(cx))?;
        if this.absorbed > 0 {
            let n = this.absorbed.min(buf.len());
            this.absorbed -= n;
            return Poll::Ready(Ok(n));
        }
        let head = match &mut this.watch {
            Watch::Pass => return Pin::new(&mut this.io).poll_write(cx, buf),
            Watch::Replaced => return Poll::Ready(Ok(buf.len())),
            Watch::Head(head) => head,
        };
        if head.is_empty() && classify(buf) == Verdict::Pass {
            this.watch = Watch::Pass;
            return Pin::new(&mut this.io).poll_write(cx, buf);
        }
        head.extend_from_slice(buf);
        match classify(head) {
            Verdict::Undecided => return Poll::Ready(Ok(buf.len())),
            Verdict::Pass => {
                this.owed = std::mem::take(head);
                this.watch = Watch::Pass;
            }
            Verdict::Replace { status, end } => {
                this.owed = answer(&head[..end], status);
                this.watch = Watch::Replaced;
            }
        }
        this.sent = 0;
        this.absorbed = buf.len();
        ready!(this.poll_owed(cx))?;
        this.absorbed = 0;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.stop_watching();
        ready!(this.poll_owed(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.stop_watching();
        ready!(this.poll_owed(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[derive(Debug, PartialEq)]
enum Verdict {
    /// Could still be an answer to rewrite: more bytes needed.
    Undecided,
    Pass,
    /// An answer to rewrite; its head is `..end` (the blank line excluded).
    Replace {
        status: u16,
        end: usize,
    },
}

/// What the first bytes of a connection's first answer are.
fn classify(head: &[u8]) -> Verdict {
    let n = head.len().min(STATUS_LINE_PREFIX);
    if !WATCHED.iter().any(|p| p[..n] == head[..n]) {
        return Verdict::Pass;
    }
    if head.len() < STATUS_LINE_PREFIX {
        return Verdict::Undecided;
    }
    let Some(end) = find(head, b"\r\n\r\n") else {
        return if head.len() > MAX_WATCHED_HEAD {
            Verdict::Pass
        } else {
            Verdict::Undecided
        };
    };
    if !has_empty_body(&head[..end]) {
        return Verdict::Pass;
    }
    let status = match &head[9..12] {
        b"400" => 400,
        b"408" => 408,
        _ => 431,
    };
    Verdict::Replace { status, end }
}

/// `content-length: 0` and no `transfer-encoding` among the head's fields.
fn has_empty_body(head: &[u8]) -> bool {
    let mut zero_length = false;
    for (name, value) in fields(head) {
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return false;
        }
        if name.eq_ignore_ascii_case(b"content-length") {
            zero_length = value == b"0";
        }
    }
    zero_length
}

/// The header fields of a head (status line skipped), names and trimmed values.
fn fields(head: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    head.split(|&b| b == b'\n').skip(1).filter_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let colon = line.iter().position(|&b| b == b':')?;
        Some((&line[..colon], line[colon + 1..].trim_ascii()))
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The rewritten answer for `head` (actix-http's, without its blank line): the
/// same status line and `date`, the contract's body.
fn answer(head: &[u8], status: u16) -> Vec<u8> {
    let (code, message) = match status {
        400 => (
            "bad_request",
            "malformed HTTP request: the request line or a header is not valid HTTP/1.1; \
             send `METHOD /path HTTP/1.1`, then `Name: value` header lines, each ending \
             in CRLF, then an empty line (OPERATOR_API.md)"
                .to_owned(),
        ),
        408 => (
            "request_timeout",
            format!(
                "the request head (request line and headers) did not arrive within {} s; \
                 send it whole as soon as the connection is open",
                HEAD_TIMEOUT.as_secs()
            ),
        ),
        _ => (
            "request_header_fields_too_large",
            format!(
                "the request head is too large (over {MAX_HEADER_LINES} header lines or \
                 {MAX_HEAD_KIB} KiB); send fewer and shorter headers"
            ),
        ),
    };
    let body = error_body(code, &message).to_string();
    let status_line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let status_line = status_line.strip_suffix(b"\r").unwrap_or(status_line);
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(status_line);
    out.extend_from_slice(
        format!(
            "\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
            body.len()
        )
        .as_bytes(),
    );
    if let Some((_, date)) = fields(head).find(|(n, _)| n.eq_ignore_ascii_case(b"date")) {
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(date);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::sync::Arc;
    use std::task::Wake;

    const BAD: &[u8] = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\ndate: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\n";

    /// A socket that takes at most `chunk` bytes a write and refuses every
    /// other write (`Pending`), to drive partial writes.
    struct Stingy {
        out: Vec<u8>,
        chunk: usize,
        refuse: bool,
        shut: bool,
    }

    impl AsyncWrite for Stingy {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.refuse = !self.refuse;
            if self.refuse {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let n = buf.len().min(self.chunk);
            self.out.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.shut = true;
            Poll::Ready(Ok(()))
        }
    }

    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }

    /// Writes `pieces` as actix-http's handler does (each to its end, retrying
    /// after `Pending`, then a flush and a shutdown) and returns what reached
    /// the socket. Asserts that every write reports a consistent count.
    fn write_through(pieces: &[&[u8]], chunk: usize) -> Vec<u8> {
        let waker = Arc::new(Noop).into();
        let mut cx = Context::from_waker(&waker);
        let mut s = Shaped::new(Stingy {
            out: Vec::new(),
            chunk,
            refuse: false,
            shut: false,
        });
        for piece in pieces {
            let mut written = 0;
            while written < piece.len() {
                if let Poll::Ready(n) = Pin::new(&mut s).poll_write(&mut cx, &piece[written..]) {
                    let n = n.unwrap();
                    assert!(n > 0 && written + n <= piece.len());
                    written += n;
                }
            }
        }
        while Pin::new(&mut s).poll_flush(&mut cx).is_pending() {}
        while Pin::new(&mut s).poll_shutdown(&mut cx).is_pending() {}
        assert!(s.io.shut);
        s.io.out
    }

    fn body_of(answer: &[u8]) -> Value {
        let text = String::from_utf8(answer.to_vec()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(length, body.len(), "{text}");
        serde_json::from_str(body).unwrap()
    }

    #[test]
    fn an_empty_400_becomes_the_contract_shape_whatever_the_write_sizes() {
        for chunk in [1, 7, 4096] {
            let halves: [&[u8]; 3] = [&BAD[..5], &BAD[5..40], &BAD[40..]];
            for pieces in [&[BAD][..], &halves[..]] {
                let out = write_through(pieces, chunk);
                let text = String::from_utf8_lossy(&out);
                assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
                assert!(text.contains("content-type: application/json\r\n"));
                assert!(text.contains("connection: close\r\n"));
                assert!(text.contains("date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"));
                let v = body_of(&out);
                assert_eq!(v["error"]["code"], "bad_request", "{v}");
                assert!(v["error"]["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("malformed HTTP request: "));
            }
        }
    }

    #[test]
    fn timeouts_and_oversized_heads_get_their_codes() {
        let out = write_through(
            &[b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n\r\n"],
            64,
        );
        assert!(out.starts_with(b"HTTP/1.1 408 Request Timeout\r\n"));
        assert_eq!(body_of(&out)["error"]["code"], "request_timeout");
        let out = write_through(
            &[b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length:  0 \r\n\r\n"],
            64,
        );
        assert!(out.starts_with(b"HTTP/1.1 431 "));
        assert_eq!(
            body_of(&out)["error"]["code"],
            "request_header_fields_too_large"
        );
    }

    #[test]
    fn answers_with_a_body_or_another_status_pass_untouched() {
        let shaped = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}";
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        let chunked = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n";
        for answer in [&shaped[..], &ok[..], &chunked[..]] {
            for chunk in [1, 3, 4096] {
                assert_eq!(write_through(&[answer], chunk), answer);
                let (a, b) = answer.split_at(6);
                assert_eq!(write_through(&[a, b], chunk), answer);
            }
        }
    }

    #[test]
    fn only_the_first_answer_is_watched() {
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
        let out = write_through(&[ok, BAD], 4096);
        assert_eq!(out, [&ok[..], BAD].concat());
    }

    #[test]
    fn a_head_flushed_before_it_ends_goes_out_as_it_is() {
        // Not what actix-http does, but nothing written may be lost.
        let partial = b"HTTP/1.1 400 Bad Req";
        assert_eq!(write_through(&[partial], 5), partial);
        assert_eq!(classify(b"HTTP/1.1 4"), Verdict::Undecided);
        assert_eq!(classify(b"HTTP/1.1 5"), Verdict::Pass);
        assert_eq!(classify(b"HTTP/2"), Verdict::Pass);
    }
}
