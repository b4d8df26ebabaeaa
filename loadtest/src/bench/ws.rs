//! Minimal RFC 6455 pieces the harness needs, written out by hand so the receive path costs
//! nothing beyond a header decode per frame:
//!
//! - client handshake: [`client_request`] builds the upgrade request, [`check_response`]
//!   validates the server's 101 and returns how many head bytes it used;
//! - server handshake (raw-fanout): [`parse_request`] and [`server_response`];
//! - framing: [`parse_head`] decodes one frame header from a byte slice (never copies),
//!   [`encode_server_frame`] writes an unmasked frame, [`encode_client_frame`] a masked one.
//!
//! Everything from the network is untrusted: each decoder returns a [`WsError`] naming the
//! violation instead of panicking.

use base64::Engine;
use sha1::{Digest, Sha1};

use super::limits::HANDSHAKE_HEADERS_MAX;

/// Opcodes (RFC 6455 §5.2).
pub const OP_CONTINUATION: u8 = 0x0;
/// Text frame.
pub const OP_TEXT: u8 = 0x1;
/// Binary frame.
pub const OP_BINARY: u8 = 0x2;
/// Close frame.
pub const OP_CLOSE: u8 = 0x8;
/// Ping frame.
pub const OP_PING: u8 = 0x9;
/// Pong frame.
pub const OP_PONG: u8 = 0xA;

const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// What was wrong with a handshake or a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsError {
    /// The HTTP head could not be parsed.
    BadHttp(String),
    /// The server answered something other than 101.
    Status(u16),
    /// A required upgrade header was missing or wrong.
    MissingHeader(&'static str),
    /// `Sec-WebSocket-Accept` did not match our key.
    BadAccept,
    /// RSV bits set although no extension was negotiated.
    ReservedBits(u8),
    /// Opcode 3-7 or B-F.
    UnknownOpcode(u8),
    /// A control frame longer than 125 bytes or fragmented.
    BadControlFrame(u8),
    /// A server frame carried a mask (RFC 6455 §5.1 forbids it).
    MaskedServerFrame,
    /// A client frame arrived unmasked.
    UnmaskedClientFrame,
    /// A 64-bit length with the top bit set, or a frame over the configured maximum.
    TooLong(u64),
}

impl std::fmt::Display for WsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WsError::BadHttp(e) => write!(f, "malformed HTTP head: {e}"),
            WsError::Status(s) => write!(f, "handshake answered HTTP {s}, expected 101"),
            WsError::MissingHeader(h) => write!(f, "handshake header missing or wrong: {h}"),
            WsError::BadAccept => write!(f, "Sec-WebSocket-Accept does not match the key"),
            WsError::ReservedBits(b) => write!(f, "frame with reserved bits {b:#x}"),
            WsError::UnknownOpcode(o) => write!(f, "frame with unknown opcode {o:#x}"),
            WsError::BadControlFrame(o) => write!(f, "control frame {o:#x} fragmented or >125 B"),
            WsError::MaskedServerFrame => write!(f, "server frame is masked"),
            WsError::UnmaskedClientFrame => write!(f, "client frame is not masked"),
            WsError::TooLong(n) => write!(f, "frame of {n} bytes is over the limit"),
        }
    }
}

impl std::error::Error for WsError {}

/// `Sec-WebSocket-Accept` for a key (RFC 6455 §4.2.2).
pub fn accept_key(key: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(key);
    h.update(WS_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// A fresh random 16-byte key, base64-encoded.
pub fn random_key() -> String {
    let bytes: [u8; 16] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The client's upgrade request for `path` on `host_port`.
pub fn client_request(host_port: &str, path: &str, key: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host_port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\
         User-Agent: certstream-wsbench\r\n\r\n"
    )
}

fn header<'a>(headers: &'a [httparse::Header<'a>], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

fn contains_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Validates a server's handshake response in `buf`. `Ok(None)` means the head is incomplete;
/// `Ok(Some(n))` means the head is `n` bytes long and valid (bytes after it are frames).
pub fn check_response(buf: &[u8], key: &str) -> Result<Option<usize>, WsError> {
    let mut headers = [httparse::EMPTY_HEADER; HANDSHAKE_HEADERS_MAX];
    let mut resp = httparse::Response::new(&mut headers);
    let n = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(WsError::BadHttp(e.to_string())),
    };
    let code = resp.code.unwrap_or(0);
    if code != 101 {
        return Err(WsError::Status(code));
    }
    let upgrade = header(resp.headers, "upgrade").ok_or(WsError::MissingHeader("Upgrade"))?;
    if !upgrade.eq_ignore_ascii_case(b"websocket") {
        return Err(WsError::MissingHeader("Upgrade"));
    }
    let accept = header(resp.headers, "sec-websocket-accept")
        .ok_or(WsError::MissingHeader("Sec-WebSocket-Accept"))?;
    if accept.trim_ascii() != accept_key(key.as_bytes()).as_bytes() {
        return Err(WsError::BadAccept);
    }
    Ok(Some(n))
}

/// A parsed client upgrade request (server side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeRequest {
    /// Request path (selects the stream on real servers; raw-fanout ignores it).
    pub path: String,
    /// `Sec-WebSocket-Key`.
    pub key: String,
    /// Bytes of the request head.
    pub head_len: usize,
}

/// Parses a client's upgrade request. `Ok(None)` means incomplete.
pub fn parse_request(buf: &[u8]) -> Result<Option<UpgradeRequest>, WsError> {
    let mut headers = [httparse::EMPTY_HEADER; HANDSHAKE_HEADERS_MAX];
    let mut req = httparse::Request::new(&mut headers);
    let n = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(WsError::BadHttp(e.to_string())),
    };
    if req.method != Some("GET") {
        return Err(WsError::BadHttp("method is not GET".into()));
    }
    let upgrade = header(req.headers, "upgrade").ok_or(WsError::MissingHeader("Upgrade"))?;
    if !upgrade.eq_ignore_ascii_case(b"websocket") {
        return Err(WsError::MissingHeader("Upgrade"));
    }
    let conn = header(req.headers, "connection").ok_or(WsError::MissingHeader("Connection"))?;
    if !contains_token(conn, "upgrade") {
        return Err(WsError::MissingHeader("Connection"));
    }
    let key = header(req.headers, "sec-websocket-key")
        .ok_or(WsError::MissingHeader("Sec-WebSocket-Key"))?;
    let key = std::str::from_utf8(key.trim_ascii())
        .map_err(|_| WsError::MissingHeader("Sec-WebSocket-Key"))?;
    Ok(Some(UpgradeRequest {
        path: req.path.unwrap_or("/").to_string(),
        key: key.to_string(),
        head_len: n,
    }))
}

/// The server's 101 answer for a client key.
pub fn server_response(key: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key.as_bytes())
    )
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHead {
    /// FIN bit.
    pub fin: bool,
    /// Opcode.
    pub opcode: u8,
    /// Mask key when the frame is masked.
    pub mask: Option<[u8; 4]>,
    /// Bytes of the header.
    pub header_len: usize,
    /// Bytes of the payload.
    pub payload_len: usize,
}

impl FrameHead {
    /// Header plus payload.
    pub fn total_len(&self) -> usize {
        self.header_len + self.payload_len
    }
}

/// Decodes one frame header at the start of `buf`. `Ok(None)`: not enough bytes yet.
/// `max_payload` bounds the payload; masking rules are checked by the caller's role.
pub fn parse_head(buf: &[u8], max_payload: usize) -> Result<Option<FrameHead>, WsError> {
    let (b0, b1) = match buf {
        [b0, b1, ..] => (*b0, *b1),
        _ => return Ok(None),
    };
    let rsv = b0 & 0x70;
    if rsv != 0 {
        return Err(WsError::ReservedBits(rsv));
    }
    let fin = b0 & 0x80 != 0;
    let opcode = b0 & 0x0F;
    match opcode {
        OP_CONTINUATION | OP_TEXT | OP_BINARY => {}
        OP_CLOSE | OP_PING | OP_PONG => {
            if !fin || (b1 & 0x7F) > 125 {
                return Err(WsError::BadControlFrame(opcode));
            }
        }
        other => return Err(WsError::UnknownOpcode(other)),
    }
    let masked = b1 & 0x80 != 0;
    let (len, mut pos) = match b1 & 0x7F {
        126 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(b) => {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                (u64::from_be_bytes(a), 10)
            }
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    // RFC 6455 §5.2: the most significant bit of a 64-bit length must be 0.
    if len > max_payload as u64 || len >> 63 != 0 {
        return Err(WsError::TooLong(len));
    }
    let mask = if masked {
        match buf.get(pos..pos + 4) {
            Some(m) => {
                pos += 4;
                Some([m[0], m[1], m[2], m[3]])
            }
            None => return Ok(None),
        }
    } else {
        None
    };
    Ok(Some(FrameHead {
        fin,
        opcode,
        mask,
        header_len: pos,
        // Bounded by `max_payload` above, so it fits usize.
        payload_len: len as usize,
    }))
}

fn push_len(out: &mut Vec<u8>, first: u8, mask_bit: u8, len: usize) {
    out.push(first);
    if len < 126 {
        out.push(mask_bit | len as u8);
    } else if len <= usize::from(u16::MAX) {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

/// Appends an unmasked, final server frame.
pub fn encode_server_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    push_len(out, 0x80 | opcode, 0, payload.len());
    out.extend_from_slice(payload);
}

/// Appends a masked, final client frame (used for pong and close replies).
pub fn encode_client_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    let mask: [u8; 4] = rand::random();
    push_len(out, 0x80 | opcode, 0x80, payload.len());
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
}

/// Unmasks `payload` in place.
pub fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_rfc_example() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn handshake_round_trip() {
        let key = random_key();
        let req = client_request("127.0.0.1:80", "/full-stream", &key);
        let parsed = parse_request(req.as_bytes()).unwrap().unwrap();
        assert_eq!(parsed.path, "/full-stream");
        assert_eq!(parsed.key, key);
        assert_eq!(parsed.head_len, req.len());
        let mut resp = server_response(&parsed.key).into_bytes();
        let head = resp.len();
        resp.extend_from_slice(b"\x81\x00");
        assert_eq!(check_response(&resp, &key).unwrap(), Some(head));
        assert_eq!(check_response(&resp[..head - 2], &key).unwrap(), None);
        assert_eq!(check_response(&resp, "other"), Err(WsError::BadAccept));
    }

    #[test]
    fn rejects_non_101() {
        let r = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(check_response(r, "k"), Err(WsError::Status(404)));
    }

    #[test]
    fn frame_lengths_round_trip() {
        for len in [0usize, 125, 126, 65535, 65536, 200_000] {
            let payload = vec![b'x'; len];
            let mut out = Vec::new();
            encode_server_frame(&mut out, OP_TEXT, &payload);
            let h = parse_head(&out, 1 << 20).unwrap().unwrap();
            assert_eq!((h.fin, h.opcode, h.mask), (true, OP_TEXT, None));
            assert_eq!(h.payload_len, len);
            assert_eq!(h.total_len(), out.len());
            // Every strict prefix of the header is "incomplete", never an error.
            for cut in 0..h.header_len {
                assert_eq!(parse_head(&out[..cut], 1 << 20).unwrap(), None);
            }
        }
    }

    #[test]
    fn client_frames_are_masked() {
        let mut out = Vec::new();
        encode_client_frame(&mut out, OP_PONG, b"hello");
        let h = parse_head(&out, 125).unwrap().unwrap();
        let mask = h.mask.unwrap();
        let mut p = out[h.header_len..].to_vec();
        unmask(&mut p, mask);
        assert_eq!(p, b"hello");
    }

    #[test]
    fn rejects_protocol_violations() {
        assert_eq!(
            parse_head(&[0xC1, 0x00], 10),
            Err(WsError::ReservedBits(0x40))
        );
        assert_eq!(
            parse_head(&[0x83, 0x00], 10),
            Err(WsError::UnknownOpcode(3))
        );
        assert_eq!(
            parse_head(&[0x09, 0x00], 10),
            Err(WsError::BadControlFrame(9))
        );
        assert_eq!(
            parse_head(&[0x89, 126, 0, 200], 1000),
            Err(WsError::BadControlFrame(9))
        );
        assert_eq!(
            parse_head(&[0x81, 126, 0x01, 0x00], 100),
            Err(WsError::TooLong(256))
        );
        let huge = [0x81, 127, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert!(matches!(
            parse_head(&huge, usize::MAX),
            Err(WsError::TooLong(_))
        ));
    }
}
