//! A reading client's bytes → messages, with no I/O: [`process_buffer`] decodes every complete
//! frame in the client's [`Reader`] in place ([`crate::bench::ws::parse_head`]), reassembles
//! fragmented messages, queues pongs and the close echo, and accounts each message by a byte
//! scan ([`crate::bench::scan::classify`], never a JSON parse). Per message the cost is the
//! scan, one interner lookup, one [`crate::bench::tracker::LogTrack::on_index`] and one
//! histogram record. [`super::client`] does the reads and writes around it.

use super::state::{ClientState, WorkerShared};
use crate::bench::limits::MESSAGE_BYTES_MAX;
use crate::bench::scan::{classify, Kind};
use crate::bench::ws;

/// Frame-decoding state of one reading client.
pub(super) struct Reader {
    pub(super) buf: Vec<u8>,
    pub(super) pos: usize,
    pub(super) filled: usize,
    /// Reassembly buffer for a fragmented message (empty when none is in progress).
    pub(super) frag: Vec<u8>,
    pub(super) in_frag: bool,
    /// Control-frame replies to send after this batch.
    pub(super) out: Vec<u8>,
    pub(super) closed: bool,
}

impl Reader {
    /// A buffer of `read_buf` bytes (more if `leftover` needs it) holding `leftover`, the frame
    /// bytes that arrived with the handshake response.
    pub(super) fn new(read_buf: usize, leftover: &[u8]) -> Self {
        let cap = read_buf.max(leftover.len());
        let mut r = Reader {
            buf: vec![0u8; cap],
            pos: 0,
            filled: leftover.len(),
            frag: Vec::new(),
            in_frag: false,
            out: Vec::new(),
            closed: false,
        };
        r.buf[..leftover.len()].copy_from_slice(leftover);
        r
    }
}

/// Moves the unconsumed tail to the front and grows the buffer if one frame needs more room.
pub(super) fn compact(r: &mut Reader, need: usize) {
    if r.pos > 0 {
        r.buf.copy_within(r.pos..r.filled, 0);
        r.filled -= r.pos;
        r.pos = 0;
    }
    if need > r.buf.len() {
        r.buf.resize(need, 0);
    }
    // Never hand `read` an empty slice (it would look like EOF); only reachable if a frame
    // header were longer than the buffer, which the minimum buffer size rules out.
    if r.filled == r.buf.len() {
        let grow = r.buf.len();
        r.buf.resize(r.buf.len() + grow, 0);
    }
}

/// Decodes every complete frame in the buffer. Returns the bytes the next incomplete frame
/// needs in all (0 when unknown).
pub(super) fn process_buffer(
    r: &mut Reader,
    now: u64,
    measuring: bool,
    sh: &mut WorkerShared,
    st: &mut ClientState,
) -> Result<usize, ws::WsError> {
    while r.pos < r.filled {
        let Some(h) = ws::parse_head(&r.buf[r.pos..r.filled], MESSAGE_BYTES_MAX)? else {
            return Ok(0);
        };
        if h.mask.is_some() {
            return Err(ws::WsError::MaskedServerFrame);
        }
        if r.filled - r.pos < h.total_len() {
            return Ok(h.total_len());
        }
        let start = r.pos + h.header_len;
        let end = r.pos + h.total_len();
        r.pos = end;
        match h.opcode {
            ws::OP_TEXT | ws::OP_BINARY if h.fin && !r.in_frag => {
                on_message(&r.buf[start..end], now, measuring, sh, st);
            }
            ws::OP_TEXT | ws::OP_BINARY if !r.in_frag => {
                r.in_frag = true;
                r.frag.clear();
                r.frag.extend_from_slice(&r.buf[start..end]);
            }
            ws::OP_CONTINUATION if r.in_frag => {
                if r.frag.len() + (end - start) > MESSAGE_BYTES_MAX {
                    return Err(ws::WsError::TooLong((r.frag.len() + end - start) as u64));
                }
                r.frag.extend_from_slice(&r.buf[start..end]);
                if h.fin {
                    r.in_frag = false;
                    on_message(&r.frag, now, measuring, sh, st);
                }
            }
            ws::OP_PING => ws::encode_client_frame(&mut r.out, ws::OP_PONG, &r.buf[start..end]),
            ws::OP_PONG => {}
            ws::OP_CLOSE => {
                // Echo the server's status code; 1000 (normal) when it sent none.
                let code = if end - start >= 2 {
                    [r.buf[start], r.buf[start + 1]]
                } else {
                    [0x03, 0xE8]
                };
                ws::encode_client_frame(&mut r.out, ws::OP_CLOSE, &code);
                r.closed = true;
                return Ok(0);
            }
            // A data frame inside a fragmented message, or a stray continuation.
            other => return Err(ws::WsError::UnknownOpcode(other)),
        }
    }
    Ok(0)
}

/// Accounts one complete message: its log track always, the window's counters and latency
/// only while measuring.
fn on_message(
    msg: &[u8],
    now_us: u64,
    measuring: bool,
    sh: &mut WorkerShared,
    st: &mut ClientState,
) {
    match classify(msg) {
        Kind::Cert(f) => {
            match sh.log_id(f.url) {
                Some(id) => {
                    let start = sh.start_by_id[id as usize];
                    st.track(id, start).on_index(f.cert_index);
                }
                None => sh.untracked += 1,
            }
            if measuring {
                sh.delivered += 1;
                let lat = if now_us >= f.seen_us {
                    now_us - f.seen_us
                } else {
                    sh.negative += 1;
                    0
                };
                sh.latency_us.saturating_record(lat);
            }
        }
        Kind::CertMalformed => {
            sh.malformed += 1;
            if measuring {
                sh.delivered += 1;
            }
        }
        Kind::Dns => {
            if measuring {
                sh.delivered += 1;
            }
        }
        Kind::Heartbeat => sh.heartbeats += 1,
        Kind::Other => sh.other += 1,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use super::*;

    const NOW_US: u64 = 2_000_000;

    fn cert(index: u64, seen: &str) -> Vec<u8> {
        format!(
            r#"{{"message_type":"certificate_update","data":{{"cert_index":{index},"seen":{seen},"source":{{"url":"http://127.0.0.1:1/logA/","name":"A"}}}}}}"#
        )
        .into_bytes()
    }

    fn fresh() -> (WorkerShared, ClientState) {
        (
            WorkerShared::new(Arc::new(HashMap::new())),
            ClientState::default(),
        )
    }

    fn track(sh: &WorkerShared, st: &ClientState) -> crate::bench::tracker::LogTrack {
        let id = sh.interner.len() - 1;
        st.logs[id].clone().expect("log A tracked")
    }

    #[test]
    fn frames_are_decoded_answered_and_counted() {
        let mut wire = Vec::new();
        ws::encode_server_frame(&mut wire, ws::OP_PING, b"p");
        ws::encode_server_frame(&mut wire, ws::OP_TEXT, &cert(0, "1.0"));
        // Fragmented: text (FIN=0), a ping in between, continuation (FIN=1).
        let (a, b) = {
            let m = cert(1, "1.5");
            let (a, b) = m.split_at(20);
            (a.to_vec(), b.to_vec())
        };
        wire.extend_from_slice(&[0x01, a.len() as u8]);
        wire.extend_from_slice(&a);
        ws::encode_server_frame(&mut wire, ws::OP_PING, b"q");
        wire.extend_from_slice(&[0x80, b.len() as u8]);
        wire.extend_from_slice(&b);
        ws::encode_server_frame(&mut wire, ws::OP_TEXT, br#"{"message_type":"heartbeat"}"#);
        ws::encode_server_frame(&mut wire, ws::OP_CLOSE, &[0x03, 0xE9]);
        let mut r = Reader::new(4096, &wire);
        let (mut sh, mut st) = fresh();
        assert_eq!(
            process_buffer(&mut r, NOW_US, true, &mut sh, &mut st),
            Ok(0)
        );
        assert!(r.closed);
        assert_eq!((sh.delivered, sh.heartbeats, sh.negative), (2, 1, 0));
        assert_eq!(sh.latency_us.len(), 2);
        // seen 1.0 s and 1.5 s, received at 2.0 s.
        let max_us = sh.latency_us.max();
        assert!((1_000_000..1_001_000).contains(&max_us), "{max_us}");
        let t = track(&sh, &st);
        assert_eq!((t.received, t.missing, t.expected), (2, 0, 2));
        // Two pongs and the close echo with the server's code (1001), all masked.
        let mut replies = Vec::new();
        let mut pos = 0;
        while pos < r.out.len() {
            let h = ws::parse_head(&r.out[pos..], 125).unwrap().unwrap();
            assert!(h.mask.is_some());
            let mut payload = r.out[pos + h.header_len..pos + h.total_len()].to_vec();
            ws::unmask(&mut payload, h.mask.unwrap());
            replies.push((h.opcode, payload));
            pos += h.total_len();
        }
        assert_eq!(
            replies,
            [
                (ws::OP_PONG, b"p".to_vec()),
                (ws::OP_PONG, b"q".to_vec()),
                (ws::OP_CLOSE, vec![0x03, 0xE9])
            ]
        );
    }

    #[test]
    fn outside_the_window_only_the_tracks_move() {
        let mut wire = Vec::new();
        ws::encode_server_frame(&mut wire, ws::OP_TEXT, &cert(7, "1.0"));
        let mut r = Reader::new(4096, &wire);
        let (mut sh, mut st) = fresh();
        assert_eq!(
            process_buffer(&mut r, NOW_US, false, &mut sh, &mut st),
            Ok(0)
        );
        assert_eq!((sh.delivered, sh.latency_us.len()), (0, 0));
        assert_eq!(track(&sh, &st).received, 1);
    }

    #[test]
    fn a_seen_in_the_future_is_counted_and_recorded_as_zero() {
        let mut wire = Vec::new();
        ws::encode_server_frame(&mut wire, ws::OP_TEXT, &cert(0, "3.0"));
        let mut r = Reader::new(4096, &wire);
        let (mut sh, mut st) = fresh();
        process_buffer(&mut r, NOW_US, true, &mut sh, &mut st).unwrap();
        assert_eq!((sh.delivered, sh.negative), (1, 1));
        assert_eq!(sh.latency_us.max(), 0);
    }

    #[test]
    fn an_incomplete_frame_asks_for_its_length_and_compact_makes_room() {
        let mut wire = Vec::new();
        ws::encode_server_frame(&mut wire, ws::OP_TEXT, &vec![b' '; 6000]);
        let mut r = Reader::new(4096, &wire[..4096]);
        let (mut sh, mut st) = fresh();
        let need = process_buffer(&mut r, NOW_US, true, &mut sh, &mut st).unwrap();
        assert_eq!((need, r.pos), (wire.len(), 0));
        compact(&mut r, need);
        assert!(r.buf.len() >= wire.len());
        assert_eq!(&r.buf[..r.filled], &wire[..4096]);
    }

    #[test]
    fn protocol_errors_end_the_client() {
        let mut masked = Vec::new();
        ws::encode_client_frame(&mut masked, ws::OP_TEXT, b"x");
        let mut r = Reader::new(4096, &masked);
        let (mut sh, mut st) = fresh();
        assert_eq!(
            process_buffer(&mut r, NOW_US, true, &mut sh, &mut st),
            Err(ws::WsError::MaskedServerFrame)
        );
        let stray = [0x80, 0x01, b'x'];
        let mut r = Reader::new(4096, &stray);
        assert!(process_buffer(&mut r, NOW_US, true, &mut sh, &mut st).is_err());
    }
}
