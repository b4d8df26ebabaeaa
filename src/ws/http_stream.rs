//! The stream over plain HTTP: Server-Sent Events (`text/event-stream`) and NDJSON
//! (`application/x-ndjson`), from the same shared WebSocket frames the hub holds.
//!
//! Serialize once: a session of either protocol is a WebSocket session whose writer frames
//! each batch differently. The payload of every frame is borrowed from the hub (never
//! copied per client) and sent between static per-protocol prefix/suffix slices, all of a
//! batch in ONE chunked-encoding chunk (`<hex len>\r\n … \r\n`) and one vectored send:
//!
//! ```text
//! WebSocket frame:  [hdr][payload]
//! SSE event:        "data: " [payload] "\n\n"
//! NDJSON line:      [payload] "\n"
//! ```
//!
//! The hub's broadcasts map too: the heartbeat's JSON text frame becomes the SSE comment
//! `: heartbeat` (the NDJSON line is the heartbeat JSON itself); its ping has no HTTP
//! counterpart and is left out; a close frame (the server going away) ends the body with the
//! last chunk (`0\r\n\r\n`). Sessions of these protocols read their socket only to notice the
//! client leaving: nothing a client sends after its request head is interpreted.

use std::{borrow::Cow, rc::Rc};

use futures_lite::AsyncWriteExt;

use super::{
    conn::Conn, http::RequestHead, session, with_deadline, HandshakeFailure, ServerContext,
};
use crate::{
    frame::{self, StreamKind},
    limits,
};

/// Answers a stream request with the 200 head, then runs the session (the same writer as a
/// WebSocket client's) on the connection.
pub(crate) async fn serve(
    mut conn: Conn,
    ctx: Rc<ServerContext>,
    (kind, protocol): (StreamKind, Protocol),
    subscription: session::Subscription,
) {
    let head = protocol.response_head();
    let sent = with_deadline(ctx.config.request_head_timeout, conn.write_all(&head)).await;
    if !matches!(sent, Some(Ok(()))) {
        ctx.metrics.handshake_failed(HandshakeFailure::Io);
        return;
    }
    ctx.metrics.http_response(200);
    session::run(conn, ctx, (kind, protocol), subscription, Vec::new()).await;
}

/// How a session's frames go on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Protocol {
    /// The shared frames as they are (after a 101).
    WebSocket,
    /// Server-Sent Events over a chunked 200.
    Sse,
    /// One JSON document per line over a chunked 200.
    Ndjson,
}

impl Protocol {
    pub(crate) const ALL: [Protocol; 3] = [Protocol::WebSocket, Protocol::Sse, Protocol::Ndjson];

    /// Label value in the metrics.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Protocol::WebSocket => "websocket",
            Protocol::Sse => "sse",
            Protocol::Ndjson => "ndjson",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Protocol::WebSocket => 0,
            Protocol::Sse => 1,
            Protocol::Ndjson => 2,
        }
    }

    /// Frames one vectored send may gather: the protocol's slices per frame, plus its chunk
    /// framing, stay within the kernel's IOV_MAX.
    pub(crate) fn frames_per_send_max(self) -> usize {
        match self {
            Protocol::WebSocket => limits::CLIENT_WRITE_FRAMES_MAX,
            Protocol::Sse => limits::CLIENT_WRITE_FRAMES_MAX_SSE,
            Protocol::Ndjson => limits::CLIENT_WRITE_FRAMES_MAX_NDJSON,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Protocol::WebSocket | Protocol::Sse => "text/event-stream; charset=utf-8",
            Protocol::Ndjson => "application/x-ndjson",
        }
    }

    /// Appends to `out` the slices that carry `frames` (complete WebSocket frames, as the
    /// hub and the replay store hold them) in this protocol. `head` holds the chunk header
    /// the slices borrow. Payloads are borrowed, never copied. Returns whether a close frame
    /// ended the body (nothing may be written after it).
    pub(crate) fn frame_into<'a>(
        self,
        frames: &[&'a [u8]],
        head: &'a mut ChunkHead,
        out: &mut Vec<&'a [u8]>,
    ) -> bool {
        if self == Protocol::WebSocket {
            out.extend_from_slice(frames);
            return false;
        }
        let head_at = out.len();
        out.push(&[]);
        let body_from = out.len();
        let mut ended = false;
        'frames: for bytes in frames {
            for (opcode, payload) in split_frames(bytes) {
                match opcode {
                    frame::OPCODE_TEXT => self.push_event(payload, out),
                    OPCODE_CLOSE => {
                        ended = true;
                        break 'frames;
                    }
                    // Pings (and anything else) have no HTTP counterpart.
                    _ => {}
                }
            }
        }
        let body_len: usize = out[body_from..].iter().map(|s| s.len()).sum();
        if body_len == 0 {
            // An empty chunk would end the body: no chunk at all.
            out.truncate(head_at);
        } else {
            head.set(body_len);
            let head: &'a ChunkHead = head;
            out[head_at] = head.as_bytes();
            out.push(b"\r\n");
        }
        if ended {
            out.push(LAST_CHUNK);
        }
        ended
    }

    fn push_event<'a>(self, payload: &'a [u8], out: &mut Vec<&'a [u8]>) {
        match self {
            Protocol::WebSocket => {}
            Protocol::Sse if payload.starts_with(HEARTBEAT_PREFIX) => {
                out.push(b": heartbeat\n\n");
            }
            Protocol::Sse => {
                // A resuming client's cursor message carries its token as the event's id: an
                // EventSource sends it back as `Last-Event-ID` when it reconnects.
                if let Some(token) = cursor_token(payload) {
                    out.extend_from_slice(&[b"id: ", token, b"\n"]);
                }
                out.extend_from_slice(&[b"data: ", payload, b"\n\n"]);
            }
            Protocol::Ndjson => out.extend_from_slice(&[payload, b"\n"]),
        }
    }

    /// The bytes a slow client gets before it is dropped (the WebSocket writer sends a 1008
    /// close instead). The body is left unterminated, so the client sees an error rather than
    /// a complete stream.
    pub(crate) fn push_too_slow(self, out: &mut Vec<u8>) {
        if self == Protocol::Sse {
            let comment = b": closed: client too slow\n\n";
            let mut head = ChunkHead::default();
            head.set(comment.len());
            out.extend_from_slice(head.as_bytes());
            out.extend_from_slice(comment);
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The response head of a stream of this protocol (status 200, chunked body).
    pub(crate) fn response_head(self) -> Vec<u8> {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nTransfer-Encoding: chunked\r\n\
             Cache-Control: no-store\r\nX-Accel-Buffering: no\r\nConnection: close\r\n\r\n",
            self.content_type()
        )
        .into_bytes()
    }
}

/// The token of a cursor message (`{"message_type":"cursor","data":{"cursor":"<token>"}}`,
/// see `resume.rs`), borrowed from the payload; `None` for every other message.
fn cursor_token(payload: &[u8]) -> Option<&[u8]> {
    let rest = payload.strip_prefix(CURSOR_PREFIX)?;
    let end = rest.iter().position(|&b| b == b'"')?;
    let token = &rest[..end];
    // Tokens are base64url; anything else must not reach an SSE field line.
    token
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'=' | b'+' | b'/'))
        .then_some(token)
}

/// The query a stream request resumes with: its own, plus `since=<Last-Event-ID>` when an
/// EventSource reconnects with the id (a cursor token) of the last event it received and the
/// query names no `since` itself.
pub(crate) fn resume_query(head: &RequestHead) -> Cow<'_, str> {
    let query = head.query.as_str();
    let Some(id) = head.last_event_id.as_deref().filter(|id| !id.is_empty()) else {
        return Cow::Borrowed(query);
    };
    if query.split('&').any(|kv| kv.starts_with("since=")) {
        return Cow::Borrowed(query);
    }
    // Escaped so the header cannot add parameters of its own.
    let id = id.replace('%', "%25").replace('&', "%26");
    Cow::Owned(format!("{query}&since={id}"))
}

/// Opcode of a close frame (RFC 6455 §5.5.1).
const OPCODE_CLOSE: u8 = 0x8;

/// How a cursor message starts, up to its token.
const CURSOR_PREFIX: &[u8] = b"{\"message_type\":\"cursor\",\"data\":{\"cursor\":\"";

/// How the heartbeat's JSON starts (see `heartbeat.rs`): it becomes an SSE comment.
const HEARTBEAT_PREFIX: &[u8] = b"{\"message_type\":\"heartbeat\"";

/// The last chunk of a chunked body (RFC 9112 §7.1), without trailers.
const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// A chunk-size line, `<hex>\r\n`, kept inline (no allocation per batch).
#[derive(Debug, Default)]
pub(crate) struct ChunkHead {
    bytes: [u8; 18],
    len: usize,
}

impl ChunkHead {
    fn set(&mut self, size: usize) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let digits = (usize::BITS as usize - size.leading_zeros() as usize)
            .div_ceil(4)
            .max(1);
        for i in 0..digits {
            self.bytes[digits - 1 - i] = HEX[(size >> (4 * i)) & 0xf];
        }
        self.bytes[digits..digits + 2].copy_from_slice(b"\r\n");
        self.len = digits + 2;
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The (opcode, payload) of each whole frame in `bytes` (a hub entry may hold several: the
/// heartbeat is a text frame and a ping). Stops at the first frame cut short.
fn split_frames(mut bytes: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    std::iter::from_fn(move || {
        let (&first, rest) = bytes.split_first()?;
        let &len7 = rest.first()?;
        let (len, header) = match len7 & 0x7f {
            126 => (
                u64::from(u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?)),
                4,
            ),
            127 => (u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?), 10),
            n => (u64::from(n), 2),
        };
        let end = header + usize::try_from(len).ok()?;
        let payload = bytes.get(header..end)?;
        bytes = &bytes[end..];
        Some((first & 0x0f, payload))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::heartbeat_bytes;

    fn framed(protocol: Protocol, frames: &[&[u8]]) -> (Vec<u8>, bool) {
        let mut head = ChunkHead::default();
        let mut out = Vec::new();
        let ended = protocol.frame_into(frames, &mut head, &mut out);
        (out.concat(), ended)
    }

    /// Decodes a chunked body: the concatenated chunk data, and whether the last chunk came.
    fn dechunk(mut body: &[u8]) -> (Vec<u8>, bool) {
        let mut data = Vec::new();
        loop {
            let Some(eol) = body.windows(2).position(|w| w == b"\r\n") else {
                return (data, false);
            };
            let size = usize::from_str_radix(std::str::from_utf8(&body[..eol]).unwrap(), 16)
                .expect("hex chunk size");
            body = &body[eol + 2..];
            if size == 0 {
                assert_eq!(body, b"\r\n");
                return (data, true);
            }
            data.extend_from_slice(&body[..size]);
            assert_eq!(&body[size..size + 2], b"\r\n", "chunk data ends in CRLF");
            body = &body[size + 2..];
        }
    }

    #[test]
    fn events_and_lines_carry_the_frame_payloads_in_one_chunk() {
        let a = frame::encode(frame::OPCODE_TEXT, br#"{"a":1}"#);
        let long = format!("{{\"b\":\"{}\"}}", "x".repeat(300));
        let b = frame::encode(frame::OPCODE_TEXT, long.as_bytes());
        let (sse, ended) = framed(Protocol::Sse, &[&a, &b]);
        assert!(!ended);
        let (data, last) = dechunk(&sse);
        assert!(!last);
        assert_eq!(
            data,
            format!("data: {{\"a\":1}}\n\ndata: {long}\n\n").as_bytes()
        );
        let (nd, _) = framed(Protocol::Ndjson, &[&a, &b]);
        assert_eq!(dechunk(&nd).0, format!("{{\"a\":1}}\n{long}\n").as_bytes());
        let (ws, _) = framed(Protocol::WebSocket, &[&a, &b]);
        assert_eq!(ws, [&a[..], &b[..]].concat());
    }

    #[test]
    fn heartbeats_map_and_pings_vanish() {
        let hb = heartbeat_bytes(std::time::SystemTime::now());
        let (sse, _) = framed(Protocol::Sse, &[&hb]);
        assert_eq!(dechunk(&sse).0, b": heartbeat\n\n");
        let (nd, _) = framed(Protocol::Ndjson, &[&hb]);
        let line = dechunk(&nd).0;
        assert!(line.starts_with(HEARTBEAT_PREFIX) && line.ends_with(b"}\n"));
        let ping = frame::encode(0x9, b"");
        assert!(
            framed(Protocol::Sse, &[&ping]).0.is_empty(),
            "no empty chunk"
        );
    }

    #[test]
    fn a_close_frame_ends_the_body() {
        let a = frame::encode(frame::OPCODE_TEXT, b"{}");
        let close = frame::encode(OPCODE_CLOSE, &1001u16.to_be_bytes());
        let (nd, ended) = framed(Protocol::Ndjson, &[&a, &close, &a]);
        assert!(ended);
        assert_eq!(dechunk(&nd), (b"{}\n".to_vec(), true));
        let (only, ended) = framed(Protocol::Sse, &[&close]);
        assert!(ended);
        assert_eq!(only, LAST_CHUNK);
    }

    #[test]
    fn cursor_messages_carry_their_token_as_the_event_id() {
        let cursor = br#"{"message_type":"cursor","data":{"cursor":"AQID-_x"}}"#;
        let f = frame::encode(frame::OPCODE_TEXT, cursor);
        let (sse, _) = framed(Protocol::Sse, &[&f]);
        let want = format!(
            "id: AQID-_x\ndata: {}\n\n",
            std::str::from_utf8(cursor).unwrap()
        );
        assert_eq!(dechunk(&sse).0, want.as_bytes());
        let (nd, _) = framed(Protocol::Ndjson, &[&f]);
        assert_eq!(dechunk(&nd).0, [&cursor[..], b"\n"].concat());
        let hostile = br#"{"message_type":"cursor","data":{"cursor":"a\nb"}}"#;
        assert_eq!(cursor_token(hostile), None);
    }

    #[test]
    fn last_event_id_resumes_as_since() {
        let head = |raw: &str| crate::ws::http::parse_head(raw.as_bytes(), 8).unwrap();
        let h = head("GET /sse?resume HTTP/1.1\r\nLast-Event-ID: AQID\r\n\r\n");
        assert_eq!(resume_query(&h), "resume&since=AQID");
        let h = head("GET /sse?since=X HTTP/1.1\r\nLast-Event-ID: AQID\r\n\r\n");
        assert_eq!(resume_query(&h), "since=X");
        let h = head("GET /sse HTTP/1.1\r\nLast-Event-ID: a&domain=x%\r\n\r\n");
        assert_eq!(resume_query(&h), "&since=a%26domain=x%25");
        let h = head("GET /sse?stream=full HTTP/1.1\r\n\r\n");
        assert_eq!(resume_query(&h), "stream=full");
    }

    #[test]
    fn a_full_send_of_either_protocol_fits_in_iov_max() {
        let f = frame::encode(frame::OPCODE_TEXT, b"{}");
        let cursor = frame::encode(
            frame::OPCODE_TEXT,
            br#"{"message_type":"cursor","data":{"cursor":"AQ"}}"#,
        );
        for protocol in [Protocol::Sse, Protocol::Ndjson] {
            let mut frames: Vec<&[u8]> = vec![&f; protocol.frames_per_send_max()];
            frames.push(&cursor);
            let close = frame::encode(OPCODE_CLOSE, b"");
            frames.push(&close);
            let mut head = ChunkHead::default();
            let mut out: Vec<&[u8]> = vec![b"control"];
            protocol.frame_into(&frames, &mut head, &mut out);
            assert!(out.len() <= 1024, "{protocol:?}: {} slices", out.len());
        }
    }

    #[test]
    fn chunk_sizes_are_lowercase_hex() {
        for (size, want) in [
            (1, "1"),
            (15, "f"),
            (16, "10"),
            (0x1a2b, "1a2b"),
            (usize::MAX, "ffffffffffffffff"),
        ] {
            let mut head = ChunkHead::default();
            head.set(size);
            assert_eq!(head.as_bytes(), format!("{want}\r\n").as_bytes());
        }
    }

    #[test]
    fn cut_frames_are_not_split_past_their_end() {
        let a = frame::encode(frame::OPCODE_TEXT, b"{\"x\":2}");
        assert_eq!(split_frames(&a[..a.len() - 1]).count(), 0);
        assert_eq!(split_frames(&[0x81, 127, 0xff]).count(), 0);
        assert_eq!(split_frames(&a).next(), Some((1, &b"{\"x\":2}"[..])));
    }

    #[test]
    fn slow_sse_clients_get_a_comment_in_a_chunk() {
        let mut out = Vec::new();
        Protocol::Sse.push_too_slow(&mut out);
        assert_eq!(dechunk(&out).0, b": closed: client too slow\n\n");
        let mut nd = Vec::new();
        Protocol::Ndjson.push_too_slow(&mut nd);
        assert!(nd.is_empty());
    }
}
