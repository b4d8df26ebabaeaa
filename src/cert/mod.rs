//! DER certificates → certstream JSON, serialized once per stream form into complete
//! WebSocket frames.
//!
//! # Layout
//!
//! | file | role |
//! |---|---|
//! | `mod.rs` | [`encode_entry`] / [`encode_heartbeat`]: the message shapes and the framing |
//! | `parse.rs` | DER → decoded fields (lenient, field by field) |
//! | `chain_cache.rs` | per-core cache of serialized chain elements (intermediates repeat) |
//! | `der.rs` | the minimal TLV reader the parser walks with |
//! | `text.rs` | hex, ASN.1 strings, times, IP addresses in their wire-format text forms |
//!
//! # How one entry is encoded
//!
//! The leaf DER is hashed and parsed exactly once into a `CertInfo`; each chain DER is
//! parsed, hashed and serialized once per core by `chain_cache`. The lite message is
//! serialized with sonic-rs straight into the buffer that becomes its frame: the buffer starts
//! with `FRAME_HEADER_MAX` (10) reserved bytes, the JSON follows, and the real header is written
//! right-aligned into the reserved space once the payload length is known; the returned `Bytes`
//! is a slice of that buffer, so the payload is never copied. The full message is assembled from
//! the lite bytes (leaf fields and tail copied, not re-serialized) plus the leaf's `as_der`,
//! base64-encoded straight into the buffer, and the cached chain elements. The domains message
//! is serialized on its own.
//!
//! # Invariants worth naming
//!
//! - Keys come out in the order of `docs/wire-format.md`; every listed key is present (`null`
//!   when the certificate has no value), except that `extensions` lists only what is present.
//! - No input makes this module panic. A leaf that cannot be decoded at all is reported as
//!   [`EncodeError::Undecodable`]; a chain element that cannot be decoded is still emitted with
//!   its fingerprints and `as_der`, and `null` fields.
//! - At most [`limits::CHAIN_CERTS_MAX`] chain elements and
//!   [`limits::DOMAINS_PER_CERT_MAX`] domains per certificate are serialized.

mod chain_cache;
mod der;
mod parse;
mod text;

use std::{ops::Range, rc::Rc};

use bytes::Bytes;
use serde::{ser::SerializeStruct, Serialize, Serializer};
use sha1::Digest as _;

use crate::{
    ct::entry::{EntrySource, LogEntry},
    frame::{self, EntryMeta, Frames, OPCODE_TEXT},
    limits,
};
use parse::Parsed;

/// Longest header of an unmasked server frame (RFC 6455 §5.2: 2 + 8-byte extended length).
const FRAME_HEADER_MAX: usize = 10;

/// Why an entry could not be encoded. The caller counts it and skips the entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// The leaf's DER yields nothing worth streaming (not even a name, serial or validity).
    Undecodable { reason: &'static str },
    /// sonic-rs refused a value (never expected: every value is a string, integer, bool or a
    /// finite float).
    Serialize { form: &'static str, message: String },
}

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EncodeError::Undecodable { reason } => write!(f, "undecodable certificate: {reason}"),
            EncodeError::Serialize { form, message } => {
                write!(f, "serializing the {form} message failed: {message}")
            }
        }
    }
}

impl std::error::Error for EncodeError {}

/// One certificate, hashed and parsed once, shared by every form that prints it.
struct CertInfo<'a> {
    der: &'a [u8],
    sha1: String,
    sha256: String,
    sha256_raw: [u8; 32],
    sha1_raw: [u8; 20],
    /// `None` when the DER could not be decoded (only possible for chain elements).
    parsed: Option<Parsed>,
}

impl<'a> CertInfo<'a> {
    fn new(der: &'a [u8]) -> Result<Self, &'static str> {
        let parsed = parse::parse(der)?;
        Ok(CertInfo::hashed(der, Some(parsed)))
    }

    /// A chain element: never fails, undecodable ones keep only their hashes and DER.
    fn lenient(der: &'a [u8]) -> Self {
        CertInfo::new(der).unwrap_or_else(|_| CertInfo::hashed(der, None))
    }

    fn hashed(der: &'a [u8], parsed: Option<Parsed>) -> Self {
        let sha256_raw: [u8; 32] = sha2::Sha256::digest(der).into();
        let sha1_raw: [u8; 20] = sha1::Sha1::digest(der).into();
        CertInfo {
            der,
            sha1: text::hex_colon(&sha1_raw),
            sha256: text::hex_colon(&sha256_raw),
            sha256_raw,
            sha1_raw,
            parsed,
        }
    }

    fn domains(&self) -> &[String] {
        self.parsed.as_ref().map_or(&[], |p| &p.all_domains)
    }
}

/// Turns one log entry into its three frames. `seen_unix_secs` is the parse time printed as
/// `seen` (rounded to microseconds).
pub fn encode_entry(
    entry: &LogEntry,
    source: &EntrySource,
    seen_unix_secs: f64,
) -> Result<Frames, EncodeError> {
    let leaf =
        CertInfo::new(&entry.leaf_der).map_err(|reason| EncodeError::Undecodable { reason })?;
    let chain = entry
        .chain
        .iter()
        .take(limits::CHAIN_CERTS_MAX)
        .map(|der| chain_cache::element_json(der))
        .collect::<Result<Vec<_>, _>>()?;
    let seen = micros(seen_unix_secs);
    let (lite_buf, leaf_range) = write_lite(entry, source, seen, &leaf)?;
    let full = assemble_full(&lite_buf, leaf_range, leaf.der, &chain);
    let lite = finish_frame(lite_buf);
    let domains_msg = DomainsMessage {
        domains: leaf.domains(),
    };
    let domains_estimate = 48 + leaf.domains().iter().map(|d| d.len() + 3).sum::<usize>();
    let domains = write_frame(domains_estimate, "domains", &domains_msg)?;
    let meta = EntryMeta {
        log_id: source.log_id,
        log_key: crate::replay::token::log_key(source.url),
        index: entry.index,
        seen_us: (seen * 1e6).round() as u64,
        leaf_sha256: leaf.sha256_raw,
        facts: facts_of(entry, source, &leaf),
        leaf_sha1: leaf.sha1_raw,
    };
    Ok(Frames {
        lite,
        full,
        domains,
        meta,
    })
}

/// The dedup key of an issuance: SHA-256 over the TBSCertificate without its poison and
/// SCT-list extensions, equal for a precertificate and its final certificate (RFC 6962 §3.2).
/// `None` when the DER's TBS cannot be walked.
pub fn issuance_key(der: &[u8]) -> Option<[u8; 32]> {
    parse::issuance_key(der)
}

/// What filters and dedup match the entry on (see [`crate::filter`]), computed once here.
fn facts_of(
    entry: &LogEntry,
    source: &EntrySource<'_>,
    leaf: &CertInfo<'_>,
) -> std::sync::Arc<frame::EntryFacts> {
    let issuer = leaf.parsed.as_ref().and_then(|p| p.issuer.as_ref());
    crate::filter::names::facts(&crate::filter::names::FactsInput {
        names: leaf.domains(),
        issuer_cn: issuer.and_then(|i| i.cn.as_deref()),
        issuer_o: issuer.and_then(|i| i.o.as_deref()),
        precert: entry.kind == crate::ct::entry::EntryKind::Precert,
        log_name: source.name,
        log_url: source.url,
        issuance_key: parse::issuance_key(leaf.der),
    })
}

/// The complete frame of `{"message_type":"heartbeat","timestamp":<now>}`.
pub fn encode_heartbeat(now_unix_secs: f64) -> Bytes {
    #[derive(Serialize)]
    struct Heartbeat {
        message_type: &'static str,
        timestamp: f64,
    }
    let msg = Heartbeat {
        message_type: "heartbeat",
        timestamp: micros(now_unix_secs),
    };
    write_frame(64, "heartbeat", &msg).unwrap_or_else(|_| {
        frame::encode(
            OPCODE_TEXT,
            br#"{"message_type":"heartbeat","timestamp":0.0}"#,
        )
    })
}

/// `secs` rounded to microseconds; non-finite input (a broken clock) becomes 0 so the JSON
/// stays valid.
fn micros(secs: f64) -> f64 {
    if secs.is_finite() {
        (secs * 1e6).round() / 1e6
    } else {
        0.0
    }
}

/// Serializes `value` into a new buffer after [`FRAME_HEADER_MAX`] reserved bytes, writes the
/// text-frame header right-aligned in front of the payload and returns the frame without
/// copying it.
fn write_frame<T: Serialize>(
    payload_estimate: usize,
    form: &'static str,
    value: &T,
) -> Result<Bytes, EncodeError> {
    let mut buf = Vec::with_capacity(FRAME_HEADER_MAX + payload_estimate);
    buf.resize(FRAME_HEADER_MAX, 0);
    sonic_rs::to_writer(&mut buf, value).map_err(|e| EncodeError::Serialize {
        form,
        message: e.to_string(),
    })?;
    Ok(finish_frame(buf))
}

/// Writes the header of a final text frame right-aligned into the [`FRAME_HEADER_MAX`]
/// reserved bytes at the front of `buf` and returns the frame, without copying the payload.
fn finish_frame(mut buf: Vec<u8>) -> Bytes {
    debug_assert!(buf.len() >= FRAME_HEADER_MAX);
    let payload_len = buf.len().saturating_sub(FRAME_HEADER_MAX);
    let start = FRAME_HEADER_MAX - frame::header_len(payload_len);
    write_header_at(&mut buf[start..FRAME_HEADER_MAX], payload_len);
    Bytes::from(buf).slice(start..)
}

/// Fills `header` (exactly `frame::header_len(payload_len)` bytes) with the header of a final
/// unmasked text frame, as [`frame::write_header`] would append it.
fn write_header_at(header: &mut [u8], payload_len: usize) {
    let (first, rest) = header.split_at_mut(1);
    first[0] = 0x80 | OPCODE_TEXT;
    match rest.len() {
        1 => rest[0] = payload_len as u8,
        3 => {
            rest[0] = 126;
            rest[1..].copy_from_slice(&(payload_len as u16).to_be_bytes());
        }
        _ => {
            rest[0] = 127;
            rest[1..].copy_from_slice(&(payload_len as u64).to_be_bytes());
        }
    }
}

/// Serializes the lite `certificate_update` after [`FRAME_HEADER_MAX`] reserved bytes.
/// Returns the buffer and the byte range of the `leaf_cert` object in it, which
/// [`assemble_full`] reuses. The envelope keys are constants written as bytes; every value goes
/// through sonic-rs.
fn write_lite(
    entry: &LogEntry,
    source: &EntrySource,
    seen: f64,
    leaf: &CertInfo<'_>,
) -> Result<(Vec<u8>, Range<usize>), EncodeError> {
    let mut buf = Vec::with_capacity(FRAME_HEADER_MAX + 1024 + leaf.der.len());
    buf.resize(FRAME_HEADER_MAX, 0);
    buf.extend_from_slice(br#"{"message_type":"certificate_update","data":{"update_type":"#);
    json_into(&mut buf, entry.kind.update_type())?;
    buf.extend_from_slice(br#","leaf_cert":"#);
    let leaf_start = buf.len();
    json_into(
        &mut buf,
        &CertJson {
            cert: leaf,
            with_der: false,
        },
    )?;
    let leaf_end = buf.len();
    buf.extend_from_slice(br#","cert_index":"#);
    json_into(&mut buf, &entry.index)?;
    buf.extend_from_slice(br#","cert_link":"#);
    json_into(&mut buf, source.cert_link)?;
    buf.extend_from_slice(br#","seen":"#);
    json_into(&mut buf, &seen)?;
    buf.extend_from_slice(br#","source":"#);
    json_into(
        &mut buf,
        &SourceJson {
            url: source.url,
            name: source.name,
        },
    )?;
    buf.extend_from_slice(b"}}");
    Ok((buf, leaf_start..leaf_end))
}

fn json_into<T: Serialize + ?Sized>(buf: &mut Vec<u8>, value: &T) -> Result<(), EncodeError> {
    sonic_rs::to_writer(&mut *buf, value).map_err(|e| EncodeError::Serialize {
        form: "lite",
        message: e.to_string(),
    })
}

/// The full frame from the (not yet framed) lite buffer: the same bytes with the leaf's
/// `as_der` appended inside `leaf_cert` and the `chain` array inserted after it. Nothing is
/// serialized twice: the leaf fields and the tail are copied, `as_der` is base64 written
/// straight into the buffer (it never needs JSON escaping), and the chain elements come
/// pre-serialized from [`chain_cache`].
fn assemble_full(lite: &[u8], leaf: Range<usize>, der: &[u8], chain: &[Rc<str>]) -> Bytes {
    // The leaf object was serialized from a struct, so it ends with `}`; cut before it.
    let leaf_open = leaf.end.saturating_sub(1).max(leaf.start);
    let b64_len = base64::encoded_len(der.len(), true).unwrap_or(0);
    let chain_len: usize = chain.iter().map(|c| c.len() + 1).sum();
    let mut buf = Vec::with_capacity(lite.len() + b64_len + chain_len + 32);
    buf.extend_from_slice(&lite[..leaf_open]);
    buf.extend_from_slice(br#","as_der":""#);
    push_base64(&mut buf, der, b64_len);
    buf.extend_from_slice(br#""},"chain":["#);
    for (i, element) in chain.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        buf.extend_from_slice(element.as_bytes());
    }
    buf.push(b']');
    buf.extend_from_slice(&lite[leaf.end..]);
    finish_frame(buf)
}

fn push_base64(buf: &mut Vec<u8>, bytes: &[u8], encoded_len: usize) {
    use base64::Engine as _;
    let start = buf.len();
    buf.resize(start + encoded_len, 0);
    let written = base64::engine::general_purpose::STANDARD
        .encode_slice(bytes, &mut buf[start..])
        .unwrap_or(0);
    buf.truncate(start + written);
}

#[derive(Serialize)]
struct SourceJson<'a> {
    url: &'a str,
    name: &'a str,
}

/// One cert object (`leaf_cert` or a chain element).
struct CertJson<'a> {
    cert: &'a CertInfo<'a>,
    with_der: bool,
}

impl Serialize for CertJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.cert;
        let p = c.parsed.as_ref();
        let mut obj = s.serialize_struct("cert", 13)?;
        obj.serialize_field("subject", &p.and_then(|p| p.subject.as_ref()))?;
        obj.serialize_field("issuer", &p.and_then(|p| p.issuer.as_ref()))?;
        obj.serialize_field("extensions", &p.map(|p| &p.extensions))?;
        obj.serialize_field("not_before", &p.and_then(|p| p.not_before))?;
        obj.serialize_field("not_after", &p.and_then(|p| p.not_after))?;
        obj.serialize_field("serial_number", &p.and_then(|p| p.serial_number.as_deref()))?;
        obj.serialize_field("fingerprint", &c.sha1)?;
        obj.serialize_field("sha1", &c.sha1)?;
        obj.serialize_field("sha256", &c.sha256)?;
        obj.serialize_field(
            "signature_algorithm",
            &p.and_then(|p| p.signature_algorithm.as_deref()),
        )?;
        obj.serialize_field("is_ca", &p.map(|p| p.is_ca))?;
        obj.serialize_field("all_domains", c.domains())?;
        if self.with_der {
            obj.serialize_field("as_der", &Base64(c.der))?;
        }
        obj.end()
    }
}

/// Standard padded base64 of a DER, encoded at serialization time.
struct Base64<'a>(&'a [u8]);

impl Serialize for Base64<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine as _;
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(self.0))
    }
}

/// `dns_entries`: the leaf's `all_domains`.
struct DomainsMessage<'a> {
    domains: &'a [String],
}

impl Serialize for DomainsMessage<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut msg = s.serialize_struct("dns_entries", 2)?;
        msg.serialize_field("message_type", "dns_entries")?;
        msg.serialize_field("data", self.domains)?;
        msg.end()
    }
}

#[cfg(test)]
mod tests;
