//! Sans-IO pieces of an HTTP/1.1 response: the head, body framing, the chunked decoder and a
//! size-capped gzip decoder. Nothing here does I/O, so every hostile-input case is unit-tested
//! with byte slices.
//!
//! # Invariants worth naming
//!
//! - No decoder ever holds more than its cap: the head is refused past
//!   [`limits::RESPONSE_HEAD_BYTES_MAX`], the chunked decoder refuses output past the cap it is
//!   given, a chunk-size line past [`limits::CHUNK_LINE_BYTES_MAX`] and trailers past the head
//!   cap; gzip output is cut at the cap (a 1 KB gzip bomb cannot allocate 1 GB).

use std::io::Read;

use crate::ct::pacing::RetryAfter;
use crate::limits;

/// What went wrong while decoding a response (the caller adds the host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// The head or (decoded) body passes its cap.
    TooLarge(&'static str),
    /// Not valid HTTP/1.1 framing.
    Malformed(String),
    /// The content coding could not be decoded.
    Decode(String),
}

/// How the end of the body is found (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body at all (1xx, 204, 304).
    Empty,
    Length(u64),
    Chunked,
    /// The body runs until the server closes the connection.
    UntilClose,
}

/// The parts of a response head the client uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub framing: Framing,
    /// The connection may carry another request after this response.
    pub keep_alive: bool,
    pub gzip: bool,
    pub retry_after: Option<RetryAfter>,
    pub content_type: Option<String>,
    pub last_modified: Option<String>,
}

/// Parses a response head from the start of `buf`. `Ok(None)` means more bytes are needed;
/// `Ok(Some((head, len)))` gives the head and its length in bytes.
pub fn parse_head(buf: &[u8]) -> Result<Option<(ResponseHead, usize)>, BodyError> {
    let mut headers = [httparse::EMPTY_HEADER; limits::RESPONSE_HEADERS_MAX];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > limits::RESPONSE_HEAD_BYTES_MAX => {
            return Err(BodyError::TooLarge("response head"))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(BodyError::TooLarge("response header count"))
        }
        Err(e) => return Err(BodyError::Malformed(format!("response head: {e}"))),
    };
    if len > limits::RESPONSE_HEAD_BYTES_MAX {
        return Err(BodyError::TooLarge("response head"));
    }
    let status = response.code.unwrap_or(0);
    let minor_version = response.version.unwrap_or(1);
    let head = interpret_head(status, minor_version, response.headers)?;
    Ok(Some((head, len)))
}

/// Header values the framing decision needs, gathered in one pass.
#[derive(Default)]
struct FramingHeaders {
    content_length: Option<u64>,
    transfer_encoding: Option<String>,
    close: bool,
    keep_alive_token: bool,
}

fn interpret_head(
    status: u16,
    minor_version: u8,
    headers: &[httparse::Header<'_>],
) -> Result<ResponseHead, BodyError> {
    let mut framing_headers = FramingHeaders::default();
    let mut head = ResponseHead {
        status,
        framing: Framing::UntilClose,
        keep_alive: false,
        gzip: false,
        retry_after: None,
        content_type: None,
        last_modified: None,
    };
    for header in headers {
        let value = std::str::from_utf8(header.value)
            .map_err(|_| BodyError::Malformed(format!("non-UTF-8 value of {}", header.name)))?
            .trim();
        apply_header(&mut head, &mut framing_headers, header.name, value)?;
    }
    head.framing = framing(status, &framing_headers)?;
    let persistent_by_default = minor_version >= 1;
    head.keep_alive = !framing_headers.close
        && (persistent_by_default || framing_headers.keep_alive_token)
        && head.framing != Framing::UntilClose
        // A message with both Transfer-Encoding and Content-Length may be a smuggling
        // attempt; RFC 9112 §6.3 says to close the connection after it.
        && !(framing_headers.transfer_encoding.is_some()
            && framing_headers.content_length.is_some());
    Ok(head)
}

fn apply_header(
    head: &mut ResponseHead,
    framing: &mut FramingHeaders,
    name: &str,
    value: &str,
) -> Result<(), BodyError> {
    if name.eq_ignore_ascii_case("content-length") {
        let length = parse_content_length(value)?;
        if framing.content_length.is_some_and(|seen| seen != length) {
            return Err(BodyError::Malformed(
                "conflicting Content-Length headers".into(),
            ));
        }
        framing.content_length = Some(length);
    } else if name.eq_ignore_ascii_case("transfer-encoding") {
        let joined = match framing.transfer_encoding.take() {
            Some(previous) => format!("{previous}, {value}"),
            None => value.to_owned(),
        };
        framing.transfer_encoding = Some(joined);
    } else if name.eq_ignore_ascii_case("connection") {
        for token in value.split(',').map(str::trim) {
            framing.close |= token.eq_ignore_ascii_case("close");
            framing.keep_alive_token |= token.eq_ignore_ascii_case("keep-alive");
        }
    } else if name.eq_ignore_ascii_case("content-encoding") {
        head.gzip = parse_content_encoding(value)?;
    } else if name.eq_ignore_ascii_case("retry-after") {
        head.retry_after = RetryAfter::parse(value);
    } else if name.eq_ignore_ascii_case("content-type") {
        head.content_type = Some(value.to_owned());
    } else if name.eq_ignore_ascii_case("last-modified") {
        head.last_modified = Some(value.to_owned());
    }
    Ok(())
}

fn parse_content_length(value: &str) -> Result<u64, BodyError> {
    let malformed = || BodyError::Malformed(format!("invalid Content-Length {value:?}"));
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    value.parse().map_err(|_| malformed())
}

/// `true` for gzip, `false` for none/identity; anything else cannot be decoded.
fn parse_content_encoding(value: &str) -> Result<bool, BodyError> {
    let mut gzip = false;
    for coding in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            if gzip {
                return Err(BodyError::Decode("gzip applied twice".into()));
            }
            gzip = true;
        } else if !coding.eq_ignore_ascii_case("identity") {
            return Err(BodyError::Decode(format!(
                "unsupported Content-Encoding {coding:?}"
            )));
        }
    }
    Ok(gzip)
}

fn framing(status: u16, headers: &FramingHeaders) -> Result<Framing, BodyError> {
    if (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(Framing::Empty);
    }
    if let Some(te) = &headers.transfer_encoding {
        let mut codings = te.split(',').map(str::trim).filter(|c| !c.is_empty());
        let last = codings.next_back();
        let only_chunked = codings.next().is_none();
        return match last {
            Some(c) if c.eq_ignore_ascii_case("chunked") && only_chunked => Ok(Framing::Chunked),
            _ => Err(BodyError::Malformed(format!(
                "unsupported Transfer-Encoding {te:?}"
            ))),
        };
    }
    Ok(headers
        .content_length
        .map_or(Framing::UntilClose, Framing::Length))
}

// ---- Chunked ---------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    SizeLine,
    Data { remaining: u64 },
    DataEnd,
    Trailers { seen: usize },
    Done,
}

/// Incremental decoder of a `Transfer-Encoding: chunked` body (RFC 9112 §7.1): feed it the
/// bytes as they arrive; it appends the payload to `out`, skips chunk extensions and trailer
/// fields, and stops exactly after the final CRLF so following bytes stay unconsumed.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: ChunkState,
    max_out: usize,
}

impl ChunkedDecoder {
    /// A decoder refusing more than `max_out` payload bytes.
    pub fn new(max_out: usize) -> Self {
        ChunkedDecoder {
            state: ChunkState::SizeLine,
            max_out,
        }
    }

    /// The terminating chunk and trailers have been consumed.
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Decodes as much of `input` as possible; returns how many bytes were consumed. Bytes not
    /// consumed (an incomplete size line or CRLF) must be offered again with more data.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, BodyError> {
        let mut consumed = 0;
        loop {
            let rest = &input[consumed..];
            let step = match self.state {
                ChunkState::Done => return Ok(consumed),
                ChunkState::SizeLine => self.size_line(rest)?,
                ChunkState::Data { remaining } => self.data(rest, remaining, out)?,
                ChunkState::DataEnd => self.data_end(rest)?,
                ChunkState::Trailers { seen } => self.trailer_line(rest, seen)?,
            };
            match step {
                Some(used) => consumed += used,
                None => return Ok(consumed),
            }
        }
    }

    /// `Some(bytes used)` to continue, `None` when more input is needed.
    fn size_line(&mut self, input: &[u8]) -> Result<Option<usize>, BodyError> {
        let bad = || BodyError::Malformed("invalid chunk size line".into());
        // httparse accepts a line without digits ("\r\n" or ";ext\r\n") as size 0.
        match input.first() {
            None => return Ok(None),
            Some(b) if !b.is_ascii_hexdigit() => return Err(bad()),
            Some(_) => {}
        }
        match httparse::parse_chunk_size(input) {
            // httparse takes an extension of any length; the cap must hold for a line that
            // arrived whole too, or the same body would pass or fail depending on how the
            // reads split it (found by the `http_chunked` fuzz target's invariant).
            Ok(httparse::Status::Complete((used, _))) if used > limits::CHUNK_LINE_BYTES_MAX => {
                Err(BodyError::Malformed("chunk size line too long".into()))
            }
            Ok(httparse::Status::Complete((used, 0))) => {
                self.state = ChunkState::Trailers { seen: 0 };
                Ok(Some(used))
            }
            Ok(httparse::Status::Complete((used, size))) => {
                self.state = ChunkState::Data { remaining: size };
                Ok(Some(used))
            }
            Ok(httparse::Status::Partial) if input.len() > limits::CHUNK_LINE_BYTES_MAX => {
                Err(BodyError::Malformed("chunk size line too long".into()))
            }
            Ok(httparse::Status::Partial) => Ok(None),
            Err(_) => Err(bad()),
        }
    }

    fn data(
        &mut self,
        input: &[u8],
        remaining: u64,
        out: &mut Vec<u8>,
    ) -> Result<Option<usize>, BodyError> {
        if input.is_empty() {
            return Ok(None);
        }
        let room = self.max_out.saturating_sub(out.len());
        if remaining > room as u64 {
            return Err(BodyError::TooLarge("response body"));
        }
        // remaining ≤ room ≤ usize::MAX, so the conversion cannot fail.
        let take = usize::try_from(remaining).map_or(input.len(), |r| r.min(input.len()));
        out.extend_from_slice(&input[..take]);
        let left = remaining - take as u64;
        self.state = if left == 0 {
            ChunkState::DataEnd
        } else {
            ChunkState::Data { remaining: left }
        };
        Ok(Some(take))
    }

    fn data_end(&mut self, input: &[u8]) -> Result<Option<usize>, BodyError> {
        match input {
            [b'\r', b'\n', ..] => {
                self.state = ChunkState::SizeLine;
                Ok(Some(2))
            }
            [] | [b'\r'] => Ok(None),
            _ => Err(BodyError::Malformed(
                "chunk data not followed by CRLF".into(),
            )),
        }
    }

    /// Skips one trailer field line; the empty line ends the body.
    fn trailer_line(&mut self, input: &[u8], seen: usize) -> Result<Option<usize>, BodyError> {
        let Some(lf) = input.iter().position(|&b| b == b'\n') else {
            if seen + input.len() > limits::RESPONSE_HEAD_BYTES_MAX {
                return Err(BodyError::TooLarge("chunked trailers"));
            }
            return Ok(None);
        };
        let line = &input[..lf];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let used = lf + 1;
        if seen + used > limits::RESPONSE_HEAD_BYTES_MAX {
            return Err(BodyError::TooLarge("chunked trailers"));
        }
        self.state = if line.is_empty() {
            ChunkState::Done
        } else if line.contains(&b':') {
            ChunkState::Trailers { seen: seen + used }
        } else {
            return Err(BodyError::Malformed("invalid chunked trailer line".into()));
        };
        Ok(Some(used))
    }
}

// ---- gzip ------------------------------------------------------------------------------------

/// Decompresses a gzip body (all members, as Go's reader does), refusing output past `max`.
pub fn gunzip_capped(input: &[u8], max: usize) -> Result<Vec<u8>, BodyError> {
    let decoder = flate2::read::MultiGzDecoder::new(input);
    // Reading max + 1 bytes tells "exactly max" from "more than max" without decoding more.
    let mut limited = decoder.take(max as u64 + 1);
    let mut out = Vec::with_capacity(input.len().saturating_mul(4).min(max));
    limited
        .read_to_end(&mut out)
        .map_err(|e| BodyError::Decode(format!("gzip: {e}")))?;
    if out.len() > max {
        return Err(BodyError::TooLarge("decompressed response body"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn head(raw: &str) -> ResponseHead {
        let (head, len) = parse_head(raw.as_bytes()).unwrap().expect("complete head");
        assert_eq!(len, raw.len());
        head
    }

    /// Feeds `input` split into pieces of `piece` bytes, as a socket might deliver it.
    fn decode_in_pieces(
        input: &[u8],
        piece: usize,
        max: usize,
    ) -> Result<(Vec<u8>, usize), BodyError> {
        let mut decoder = ChunkedDecoder::new(max);
        let mut out = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        let mut total_used = 0;
        for part in input.chunks(piece) {
            pending.extend_from_slice(part);
            let used = decoder.decode(&pending, &mut out)?;
            total_used += used;
            pending.drain(..used);
            if decoder.is_done() {
                return Ok((out, total_used));
            }
        }
        Err(BodyError::Malformed("incomplete".into()))
    }

    #[test]
    fn head_with_content_length_and_fields() {
        let h = head(
            "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nContent-Type: application/json\r\n\
             Last-Modified: Tue, 15 Nov 1994 12:45:26 GMT\r\n\r\n",
        );
        assert_eq!(h.status, 200);
        assert_eq!(h.framing, Framing::Length(12));
        assert!(h.keep_alive);
        assert!(!h.gzip);
        assert_eq!(h.content_type.as_deref(), Some("application/json"));
        assert_eq!(
            h.last_modified.as_deref(),
            Some("Tue, 15 Nov 1994 12:45:26 GMT")
        );
    }

    #[test]
    fn head_partial_then_complete() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nNEXT";
        assert_eq!(parse_head(&raw[..20]).unwrap(), None);
        let (_, len) = parse_head(raw).unwrap().unwrap();
        assert_eq!(&raw[len..], b"NEXT");
    }

    #[test]
    fn head_framing_rules() {
        assert_eq!(
            head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").framing,
            Framing::Chunked
        );
        let close = head("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(close.framing, Framing::UntilClose);
        assert!(!close.keep_alive);
        assert_eq!(
            head("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n").framing,
            Framing::Empty
        );
        assert_eq!(
            head("HTTP/1.1 204 No Content\r\n\r\n").framing,
            Framing::Empty
        );
        let both =
            head("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(both.framing, Framing::Chunked);
        assert!(!both.keep_alive);
    }

    #[test]
    fn head_connection_semantics() {
        assert!(
            !head("HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n").keep_alive
        );
        assert!(!head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
        assert!(
            head("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")
                .keep_alive
        );
        assert!(
            !head("HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n")
                .keep_alive
        );
    }

    #[test]
    fn head_gzip_and_retry_after() {
        let h = head(
            "HTTP/1.1 429 Too Many Requests\r\nContent-Encoding: gzip\r\nRetry-After: 7\r\n\
             Content-Length: 0\r\n\r\n",
        );
        assert!(h.gzip);
        assert_eq!(h.retry_after, Some(RetryAfter::Seconds(7)));
        let unparsable = head("HTTP/1.1 429 x\r\nRetry-After: later\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(unparsable.retry_after, None);
    }

    #[test]
    fn head_rejections() {
        type Check = fn(&BodyError) -> bool;
        let cases: [(&str, Check); 6] = [
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                |e| matches!(e, BodyError::Malformed(_)),
            ),
            ("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", |e| {
                matches!(e, BodyError::Malformed(_))
            }),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                |e| matches!(e, BodyError::Malformed(_)),
            ),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", |e| {
                matches!(e, BodyError::Malformed(_))
            }),
            ("HTTP/1.1 200 OK\r\nContent-Encoding: br\r\n\r\n", |e| {
                matches!(e, BodyError::Decode(_))
            }),
            ("SMTP/1.1 200 OK\r\n\r\n", |e| {
                matches!(e, BodyError::Malformed(_))
            }),
        ];
        for (raw, expected) in cases {
            let err = parse_head(raw.as_bytes()).expect_err(raw);
            assert!(expected(&err), "{raw:?}: {err:?}");
        }
    }

    #[test]
    fn head_size_caps() {
        let mut big = b"HTTP/1.1 200 OK\r\nX-Pad: ".to_vec();
        big.resize(limits::RESPONSE_HEAD_BYTES_MAX + 10, b'a');
        assert_eq!(parse_head(&big), Err(BodyError::TooLarge("response head")));
        let mut many = String::from("HTTP/1.1 200 OK\r\n");
        for i in 0..=limits::RESPONSE_HEADERS_MAX {
            many.push_str(&format!("X-{i}: v\r\n"));
        }
        many.push_str("\r\n");
        assert!(matches!(
            parse_head(many.as_bytes()),
            Err(BodyError::TooLarge(_))
        ));
    }

    #[test]
    fn chunked_basic_every_split() {
        let input = b"4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\nNEXT";
        for piece in 1..input.len() {
            let (out, used) = decode_in_pieces(input, piece, 1024).unwrap();
            assert_eq!(out, b"Wikipedia in\r\n\r\nchunks.", "piece {piece}");
            assert_eq!(&input[used..], b"NEXT", "piece {piece}");
        }
    }

    #[test]
    fn chunked_extensions_and_trailers() {
        let input = b"3;name=value;quoted=\"a b\"\r\nabc\r\n1 ; ext\r\nd\r\n\
            0;last\r\nExpires: never\r\nX-Checksum: 1\r\n\r\n";
        for piece in [1, 3, 7, input.len()] {
            let (out, used) = decode_in_pieces(input, piece, 1024).unwrap();
            assert_eq!(out, b"abcd");
            assert_eq!(used, input.len());
        }
    }

    #[test]
    fn chunked_hex_sizes() {
        let payload = vec![b'x'; 0x1af];
        let mut input = b"1aF\r\n".to_vec();
        input.extend_from_slice(&payload);
        input.extend_from_slice(b"\r\n0\r\n\r\n");
        let (out, _) = decode_in_pieces(&input, 64, 1024).unwrap();
        assert_eq!(out, payload);
    }

    #[test]
    fn chunked_bad_sizes() {
        for bad in [
            &b"\r\nabc"[..],
            b";ext\r\n",
            b"zz\r\n",
            b"-1\r\n",
            b"4x\r\n",
            b"4\rX",
            b"fffffffffffffffff\r\n",
            b"4\r\nabcdXY",
            b"0\r\nnot a trailer\r\n\r\n",
        ] {
            let mut decoder = ChunkedDecoder::new(1 << 20);
            let err = decoder.decode(bad, &mut Vec::new());
            assert!(
                matches!(err, Err(BodyError::Malformed(_))),
                "{bad:?}: {err:?}"
            );
        }
    }

    #[test]
    fn chunked_endless_size_line_and_trailers() {
        let mut line = b"1;".to_vec();
        line.resize(limits::CHUNK_LINE_BYTES_MAX + 10, b'e');
        let err = ChunkedDecoder::new(1024).decode(&line, &mut Vec::new());
        assert!(matches!(err, Err(BodyError::Malformed(_))), "{err:?}");
        let mut trailers = b"0\r\n".to_vec();
        while trailers.len() < limits::RESPONSE_HEAD_BYTES_MAX + 10 {
            trailers.extend_from_slice(b"X-T: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        let err = ChunkedDecoder::new(1024).decode(&trailers, &mut Vec::new());
        assert_eq!(err, Err(BodyError::TooLarge("chunked trailers")));
    }

    /// A body with a 5,000-byte chunk extension: refused in one read as in many (it used to
    /// pass when it arrived whole). Kept from the `http_chunked` fuzz target.
    #[test]
    fn chunked_line_cap_does_not_depend_on_how_reads_split_the_body() {
        let input = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/loadtest/fixtures/fuzz-regressions/http_chunked/long-extension-whole-vs-pieces"
        ))
        .unwrap();
        let body = &input[1..]; // the fuzz input's first byte picks the piece size
        for piece in [1, 64, 4096, body.len()] {
            assert_eq!(
                decode_in_pieces(body, piece, 1 << 20),
                Err(BodyError::Malformed("chunk size line too long".into())),
                "piece {piece}"
            );
        }
        // Just under the cap, the same line is fine in any split.
        let mut line = b"5;".to_vec();
        line.resize(limits::CHUNK_LINE_BYTES_MAX - 2, b'a');
        line.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
        for piece in [1, 64, line.len()] {
            assert_eq!(
                decode_in_pieces(&line, piece, 1 << 20),
                Ok((b"hello".to_vec(), line.len()))
            );
        }
    }

    #[test]
    fn chunked_size_cap() {
        // The declared size alone is refused before any byte is buffered.
        let mut decoder = ChunkedDecoder::new(10);
        let err = decoder.decode(b"ffffffff\r\nab", &mut Vec::new());
        assert_eq!(err, Err(BodyError::TooLarge("response body")));
        // Many small chunks adding up past the cap are refused too.
        let input = b"6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n";
        assert_eq!(
            decode_in_pieces(input, 4, 10),
            Err(BodyError::TooLarge("response body"))
        );
        assert!(decode_in_pieces(input, 4, 12).is_ok());
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn gzip_round_trip_of_fixture() {
        // A real Static CT data tile: the kind of body that arrives gzipped unasked.
        let fixture = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/loadtest/fixtures/ctdata/static-ct/navigli2025h2/tile/data/000"
        ))
        .unwrap();
        let compressed = gzip(&fixture);
        assert!(compressed.len() < fixture.len());
        assert_eq!(gunzip_capped(&compressed, fixture.len()).unwrap(), fixture);
    }

    #[test]
    fn gzip_multi_member() {
        let mut two = gzip(b"hello ");
        two.extend_from_slice(&gzip(b"world"));
        assert_eq!(gunzip_capped(&two, 100).unwrap(), b"hello world");
    }

    #[test]
    fn gzip_bomb_is_capped() {
        let bomb = gzip(&vec![0u8; 8 << 20]);
        assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
        assert_eq!(
            gunzip_capped(&bomb, 1 << 20),
            Err(BodyError::TooLarge("decompressed response body"))
        );
        assert_eq!(gunzip_capped(&bomb, 8 << 20).unwrap().len(), 8 << 20);
    }

    #[test]
    fn gzip_corrupt_and_truncated() {
        let good = gzip(b"some body that is long enough to be truncated meaningfully");
        assert!(matches!(
            gunzip_capped(&good[..good.len() - 6], 1000),
            Err(BodyError::Decode(_))
        ));
        assert!(matches!(
            gunzip_capped(b"not gzip at all", 1000),
            Err(BodyError::Decode(_))
        ));
    }
}
