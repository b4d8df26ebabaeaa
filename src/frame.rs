//! Pre-encoded WebSocket frames: what crosses cores and what sessions write.
//!
//! Server-to-client frames are unmasked (RFC 6455 §5.1), so the complete frame (header and
//! payload) is built once per stream form and shared by every client of every core.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

/// The three encoded forms of one certificate, each a complete WebSocket text frame.
#[derive(Debug, Clone)]
pub struct Frames {
    /// `/` stream: certificate_update without `as_der` and `chain`.
    pub lite: Bytes,
    /// `/full-stream`: certificate_update with `as_der` and `chain`.
    pub full: Bytes,
    /// `/domains-only`: `dns_entries`.
    pub domains: Bytes,
    /// Where the certificate sits and what it is, for routing without reading the frames.
    pub meta: EntryMeta,
}

/// What routes a certificate without reading its frames: its position in its log (resume
/// cursors, the replay store and gap detection work on it) and its identity (lookup, dedup).
/// Filled once, on the owning executor, when the frames are encoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryMeta {
    /// The log's id (SHA-256 of its key), as in the log list.
    pub log_id: [u8; 32],
    /// The log's key in resume tokens and the replay store (from `source.url`, see
    /// [`crate::replay::token::log_key`]).
    pub log_key: [u8; 8],
    /// The entry's leaf index in that log.
    pub index: u64,
    /// When this server parsed it (`seen`), in microseconds since the epoch.
    pub seen_us: u64,
    /// SHA-256 of the leaf DER (the `sha256` the messages print).
    pub leaf_sha256: [u8; 32],
    /// SHA-1 of the leaf DER (the `sha1` and `fingerprint` the messages print), for lookup by
    /// SHA-1 (`/api/cert`). The replay store's records keep only the SHA-256; a lookup checks
    /// a SHA-1 against the stored message.
    pub leaf_sha1: [u8; 20],
    /// What subscription filters and dedup match on (see [`EntryFacts`]).
    pub facts: Arc<EntryFacts>,
}

/// The facts server-side filters and dedup match a certificate on, computed once on the owning
/// executor (normalized there, so no core redoes it) and shared read-only by every core.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryFacts {
    /// Every name of `all_domains` as the certificate has it, lowercased, without a trailing
    /// dot.
    pub names: Box<[Box<str>]>,
    /// The other form of each IDN among them: the Unicode form of a name holding an A-label
    /// (`xn--`), the A-label form of a Unicode name (a CN may be one); empty for certificates
    /// without IDNs.
    pub alt_names: Box<[Box<str>]>,
    /// The issuer's CN and O, lowercased (empty when absent).
    pub issuer_cn: Box<str>,
    pub issuer_o: Box<str>,
    /// A `PrecertLogEntry` (else an `X509LogEntry`).
    pub precert: bool,
    /// The log's name (description) lowercased, and its URL as in the log list.
    pub log_name: Box<str>,
    pub log_url: Box<str>,
    /// SHA-256 of the TBSCertificate without its poison and SCT-list extensions (RFC 6962
    /// §3.2): equal for a precertificate and its final certificate. `None` when the TBS could
    /// not be walked.
    pub issuance_key: Option<[u8; 32]>,
}

/// Which stream a client subscribed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    Lite,
    Full,
    Domains,
}

impl StreamKind {
    pub const ALL: [StreamKind; 3] = [StreamKind::Lite, StreamKind::Full, StreamKind::Domains];
}

impl Frames {
    fn for_stream_mut(&mut self, kind: StreamKind) -> &mut Bytes {
        match kind {
            StreamKind::Lite => &mut self.lite,
            StreamKind::Full => &mut self.full,
            StreamKind::Domains => &mut self.domains,
        }
    }

    /// The frame a client of `kind` receives.
    pub fn for_stream(&self, kind: StreamKind) -> &Bytes {
        match kind {
            StreamKind::Lite => &self.lite,
            StreamKind::Full => &self.full,
            StreamKind::Domains => &self.domains,
        }
    }
}

/// Moves the frames of one page into one buffer per stream form, in order, so that frames a
/// client receives back to back also lie back to back in memory, and its writer hands the
/// kernel one iovec per page instead of one per certificate (`SharedStream::try_send_vectored`
/// merges adjacent slices). Why: the kernel copies a long iovec list markedly slower than one
/// segment of the same bytes (≈ 40% more CPU per `sendmsg` for 62 × 1.5 KB on this machine),
/// and that copy is most of a burst's cost. One extra copy of the page here saves it on every
/// client's write.
pub fn pack_contiguous(frames: &mut [Frames]) {
    if frames.len() < 2 {
        return;
    }
    for kind in StreamKind::ALL {
        let total = frames.iter().map(|f| f.for_stream(kind).len()).sum();
        let mut page = BytesMut::with_capacity(total);
        for f in frames.iter() {
            page.extend_from_slice(f.for_stream(kind));
        }
        let page = page.freeze();
        let mut at = 0;
        for f in frames.iter_mut() {
            let len = f.for_stream(kind).len();
            *f.for_stream_mut(kind) = page.slice(at..at + len);
            at += len;
        }
        assert_eq!(
            at,
            page.len(),
            "packed page length differs from its frames' sum"
        );
    }
}

/// Opcode of a text frame (RFC 6455 §5.2).
pub const OPCODE_TEXT: u8 = 0x1;

/// Appends the header of an unmasked final frame with `opcode` and `payload_len` to `out`.
pub fn write_header(out: &mut Vec<u8>, opcode: u8, payload_len: usize) {
    out.push(0x80 | opcode);
    if payload_len < 126 {
        out.push(payload_len as u8);
    } else if payload_len <= u16::MAX as usize {
        out.push(126);
        out.extend_from_slice(&(payload_len as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(payload_len as u64).to_be_bytes());
    }
}

/// Length of the header [`write_header`] writes for `payload_len`.
pub fn header_len(payload_len: usize) -> usize {
    if payload_len < 126 {
        2
    } else if payload_len <= u16::MAX as usize {
        4
    } else {
        10
    }
}

/// A complete unmasked final frame holding `payload`.
pub fn encode(opcode: u8, payload: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(header_len(payload.len()) + payload.len());
    write_header(&mut out, opcode, payload.len());
    out.extend_from_slice(payload);
    Bytes::from(out)
}

/// Whether `frame` is exactly one frame as [`encode`] builds it: a final, unmasked frame whose
/// header's length is the length of the bytes after it. Frames are shared by every client, so
/// one with a wrong length would desynchronise every stream that carries it.
pub fn is_whole_frame(frame: &[u8]) -> bool {
    let payload_len = payload(frame).len();
    let Some(&first) = frame.first() else {
        return false;
    };
    first & 0x80 != 0
        && frame.get(1).is_some_and(|b| b & 0x80 == 0)
        && header_len(payload_len) + payload_len == frame.len()
        && declared_len(frame) == Some(payload_len as u64)
}

/// The payload length a frame's header declares (`None` when the header is cut short).
fn declared_len(frame: &[u8]) -> Option<u64> {
    let len7 = frame.get(1)? & 0x7f;
    match len7 {
        126 => Some(u64::from(u16::from_be_bytes(
            frame.get(2..4)?.try_into().ok()?,
        ))),
        127 => Some(u64::from_be_bytes(frame.get(2..10)?.try_into().ok()?)),
        n => Some(u64::from(n)),
    }
}

/// The payload of a frame built by this module (used by `/example.json` and `/latest.json`).
pub fn payload(frame: &[u8]) -> &[u8] {
    let Some(&len7) = frame.get(1) else {
        return &[];
    };
    let start = match len7 & 0x7f {
        126 => 4,
        127 => 10,
        _ => 2,
    };
    frame.get(start..).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_match_tungstenite_for_each_length_class() {
        use tungstenite::protocol::frame::{coding::Data, coding::OpCode, Frame};
        for len in [0usize, 1, 125, 126, 127, 65535, 65536, 70000] {
            let body = vec![b'x'; len];
            let ours = encode(OPCODE_TEXT, &body);
            let mut theirs = Vec::new();
            Frame::message(body.clone(), OpCode::Data(Data::Text), true)
                .format(&mut theirs)
                .unwrap();
            assert_eq!(&ours[..], &theirs[..], "len {len}");
            assert_eq!(payload(&ours).len(), len);
            assert_eq!(header_len(len) + len, ours.len());
            assert!(is_whole_frame(&ours), "len {len}");
            assert!(!is_whole_frame(&ours[..ours.len() - 1]), "cut, len {len}");
        }
    }

    #[test]
    fn packed_frames_keep_their_bytes_and_lie_back_to_back() {
        let frame =
            |tag: &str, i: usize| encode(OPCODE_TEXT, format!("{tag}{i}").repeat(i + 1).as_bytes());
        let original: Vec<Frames> = (0..5)
            .map(|i| Frames {
                lite: frame("l", i),
                full: frame("full", i),
                domains: frame("d", i),
                meta: EntryMeta::default(),
            })
            .collect();
        let mut packed = original.clone();
        pack_contiguous(&mut packed);
        for kind in StreamKind::ALL {
            for (a, b) in original.iter().zip(&packed) {
                assert_eq!(a.for_stream(kind), b.for_stream(kind));
            }
            for pair in packed.windows(2) {
                let (prev, next) = (pair[0].for_stream(kind), pair[1].for_stream(kind));
                assert_eq!(prev.as_ptr_range().end, next.as_ptr(), "{kind:?}");
            }
        }
    }
}
