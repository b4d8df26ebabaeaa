//! DER certificates → certstream JSON, serialized once per stream form into complete
//! WebSocket frames.
//!
//! # Layout
//!
//! | file | role |
//! |---|---|
//! | `mod.rs` | [`encode_entry`] / [`encode_heartbeat`]: the message shapes and the framing |
//! | `parse.rs` | DER → decoded fields (lenient, field by field) |
//! | `der.rs` | the minimal TLV reader the parser walks with |
//! | `text.rs` | hex, ASN.1 strings, times, IP addresses in their wire-format text forms |
//!
//! # How one entry is encoded
//!
//! Each DER (leaf and every chain element) is hashed and parsed exactly once into a
//! [`CertInfo`]. The three messages are then serialized from those values with sonic-rs, each
//! straight into the buffer that becomes its frame: the buffer starts with
//! [`FRAME_HEADER_MAX`] reserved bytes, the JSON is written after them, and the real header is
//! written right-aligned into the reserved space once the payload length is known. The returned
//! `Bytes` is a slice of that buffer, so the payload is never copied.
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

mod der;
mod parse;
mod text;

use bytes::Bytes;
use serde::{
    ser::{SerializeSeq, SerializeStruct},
    Serialize, Serializer,
};
use sha1::Digest as _;

use crate::{
    ct::entry::{EntrySource, LogEntry},
    frame::{self, Frames, OPCODE_TEXT},
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
    /// `None` when the DER could not be decoded (only possible for chain elements).
    parsed: Option<Parsed>,
}

impl<'a> CertInfo<'a> {
    fn new(der: &'a [u8]) -> Result<Self, &'static str> {
        let parsed = parse::parse(der)?;
        Ok(CertInfo {
            der,
            sha1: text::hex_colon(&sha1::Sha1::digest(der)),
            sha256: text::hex_colon(&sha2::Sha256::digest(der)),
            parsed: Some(parsed),
        })
    }

    /// A chain element: never fails, undecodable ones keep only their hashes and DER.
    fn lenient(der: &'a [u8]) -> Self {
        CertInfo::new(der).unwrap_or_else(|_| CertInfo {
            der,
            sha1: text::hex_colon(&sha1::Sha1::digest(der)),
            sha256: text::hex_colon(&sha2::Sha256::digest(der)),
            parsed: None,
        })
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
    let chain: Vec<CertInfo<'_>> = entry
        .chain
        .iter()
        .take(limits::CHAIN_CERTS_MAX)
        .map(|der| CertInfo::lenient(der))
        .collect();
    let mut message = UpdateMessage {
        entry,
        source,
        seen: micros(seen_unix_secs),
        leaf: &leaf,
        chain: None,
    };
    let lite_estimate = 1024 + leaf.der.len();
    let lite = write_frame(lite_estimate, "lite", &message)?;
    message.chain = Some(&chain);
    let der_total: usize = leaf.der.len() + chain.iter().map(|c| c.der.len()).sum::<usize>();
    let full_estimate = lite.len() + der_total * 4 / 3 + chain.len() * 1024 + 64;
    let full = write_frame(full_estimate, "full", &message)?;
    let domains_msg = DomainsMessage {
        domains: leaf.domains(),
    };
    let domains_estimate = 48 + leaf.domains().iter().map(|d| d.len() + 3).sum::<usize>();
    let domains = write_frame(domains_estimate, "domains", &domains_msg)?;
    Ok(Frames {
        lite,
        full,
        domains,
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
    let payload_len = buf.len() - FRAME_HEADER_MAX;
    let start = FRAME_HEADER_MAX - frame::header_len(payload_len);
    write_header_at(&mut buf[start..FRAME_HEADER_MAX], payload_len);
    Ok(Bytes::from(buf).slice(start..))
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

/// `certificate_update`: lite when `chain` is `None`, full (with `as_der` and `chain`) otherwise.
struct UpdateMessage<'a, 's> {
    entry: &'a LogEntry,
    source: &'a EntrySource<'s>,
    seen: f64,
    leaf: &'a CertInfo<'a>,
    chain: Option<&'a [CertInfo<'a>]>,
}

impl Serialize for UpdateMessage<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut msg = s.serialize_struct("message", 2)?;
        msg.serialize_field("message_type", "certificate_update")?;
        msg.serialize_field("data", &UpdateData(self))?;
        msg.end()
    }
}

struct UpdateData<'m, 'a, 's>(&'m UpdateMessage<'a, 's>);

impl Serialize for UpdateData<'_, '_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let m = self.0;
        let full = m.chain.is_some();
        let mut data = s.serialize_struct("data", 7)?;
        data.serialize_field("update_type", m.entry.kind.update_type())?;
        data.serialize_field(
            "leaf_cert",
            &CertJson {
                cert: m.leaf,
                with_der: full,
            },
        )?;
        if let Some(chain) = m.chain {
            data.serialize_field("chain", &ChainJson(chain))?;
        }
        data.serialize_field("cert_index", &m.entry.index)?;
        data.serialize_field("cert_link", m.source.cert_link)?;
        data.serialize_field("seen", &m.seen)?;
        data.serialize_field(
            "source",
            &SourceJson {
                url: m.source.url,
                name: m.source.name,
            },
        )?;
        data.end()
    }
}

#[derive(Serialize)]
struct SourceJson<'a> {
    url: &'a str,
    name: &'a str,
}

struct ChainJson<'a>(&'a [CertInfo<'a>]);

impl Serialize for ChainJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for cert in self.0 {
            seq.serialize_element(&CertJson {
                cert,
                with_der: true,
            })?;
        }
        seq.end()
    }
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
