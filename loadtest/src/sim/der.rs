//! Minimal DER writer and reader: just enough ASN.1 to build X.509 certificates by hand and to
//! pull a few fields (TBS, SPKI) out of real ones.
//!
//! Why hand-written: certificates are generated at several thousand per second from a template,
//! patching serial, names and validity per entry. A full builder (rcgen) re-derives everything
//! and signs with real randomness, which is both slower and non-reproducible.

/// Tag bytes used by the certificate builder.
pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;
pub const NULL: u8 = 0x05;
pub const OID: u8 = 0x06;
pub const UTF8_STRING: u8 = 0x0c;
pub const PRINTABLE_STRING: u8 = 0x13;
pub const IA5_STRING: u8 = 0x16;
pub const UTC_TIME: u8 = 0x17;
pub const GENERALIZED_TIME: u8 = 0x18;
pub const SEQUENCE: u8 = 0x30;
pub const SET: u8 = 0x31;
pub const BOOLEAN: u8 = 0x01;

/// Appends a DER length (short form below 128, long form otherwise).
pub fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
        return;
    }
    let bytes = (len as u64).to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    out.push(0x80 | (8 - skip) as u8);
    out.extend_from_slice(&bytes[skip..]);
}

/// Appends `tag || len || content`.
pub fn push_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    push_len(out, content.len());
    out.extend_from_slice(content);
}

/// Returns `tag || len || content` as a new vector.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 4);
    push_tlv(&mut out, tag, content);
    out
}

/// A constructed value (SEQUENCE, SET, explicit tag) over already-encoded parts.
pub fn constructed(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(len + 4);
    out.push(tag);
    push_len(&mut out, len);
    for part in parts {
        out.extend_from_slice(part);
    }
    out
}

pub fn seq(parts: &[&[u8]]) -> Vec<u8> {
    constructed(SEQUENCE, parts)
}

/// A non-negative INTEGER from big-endian magnitude bytes, minimally encoded.
pub fn uint(magnitude: &[u8]) -> Vec<u8> {
    let skip = magnitude.iter().take_while(|b| **b == 0).count();
    let trimmed = &magnitude[skip.min(magnitude.len().saturating_sub(1))..];
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(trimmed);
    if content.len() > 1 && content[0] == 0 && content[1] & 0x80 == 0 {
        content.remove(0);
    }
    tlv(INTEGER, &content)
}

/// One parsed TLV: tag, full encoding, and content.
#[derive(Clone, Copy, Debug)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub full: &'a [u8],
    pub content: &'a [u8],
}

/// Reads one DER TLV from the front of `input`; returns it and the rest. `None` on truncation,
/// indefinite lengths or lengths that do not fit (real fixture certs include BER oddities).
pub fn read_tlv(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let tag = *input.first()?;
    let first_len = *input.get(1)?;
    let (len, header) = if first_len < 0x80 {
        (first_len as usize, 2)
    } else {
        let n = (first_len & 0x7f) as usize;
        if n == 0 || n > 4 {
            return None;
        }
        let bytes = input.get(2..2 + n)?;
        let len = bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    let full = input.get(..end)?;
    Some((
        Tlv {
            tag,
            full,
            content: &full[header..],
        },
        &input[end..],
    ))
}

/// The fields of a certificate the simulator needs from real DER.
pub struct CertFields<'a> {
    pub tbs: &'a [u8],
    pub subject: &'a [u8],
    pub spki: &'a [u8],
}

/// Splits `Certificate ::= SEQUENCE { tbs, sigAlg, sig }` and picks subject and SPKI out of the TBS.
pub fn cert_fields(cert: &[u8]) -> Option<CertFields<'_>> {
    let (outer, _) = read_tlv(cert)?;
    let (tbs, _) = read_tlv(outer.content)?;
    let mut rest = tbs.content;
    let (first, after) = read_tlv(rest)?;
    if first.tag == 0xa0 {
        rest = after; // explicit version
    }
    let mut fields = Vec::with_capacity(6);
    for _ in 0..6 {
        let (field, after) = read_tlv(rest)?;
        fields.push(field);
        rest = after;
    }
    // serial, sigAlg, issuer, validity, subject, spki
    Some(CertFields {
        tbs: tbs.full,
        subject: fields[4].full,
        spki: fields[5].full,
    })
}

/// Decodes every `-----BEGIN CERTIFICATE-----` block of a PEM file (whitespace-tolerant).
pub fn pem_certs(text: &str) -> Vec<Vec<u8>> {
    use base64::Engine;
    let mut out = Vec::new();
    let mut rest = text;
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    while let Some(start) = rest.find(BEGIN) {
        let body = &rest[start + BEGIN.len()..];
        let Some(end) = body.find(END) else { break };
        let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b64) {
            out.push(der);
        }
        rest = &body[end + END.len()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_integers_are_minimal() {
        assert_eq!(tlv(OCTET_STRING, &[1; 5])[..2], [0x04, 5]);
        assert_eq!(tlv(OCTET_STRING, &[1; 200])[..3], [0x04, 0x81, 200]);
        assert_eq!(tlv(OCTET_STRING, &[1; 300])[..4], [0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(uint(&[0, 0, 5]), vec![2, 1, 5]);
        assert_eq!(uint(&[0x80]), vec![2, 2, 0, 0x80]);
        assert_eq!(uint(&[0]), vec![2, 1, 0]);
        assert_eq!(uint(&[0, 0x80]), vec![2, 2, 0, 0x80]);
    }

    #[test]
    fn read_back_what_was_written() {
        let inner = tlv(INTEGER, &[7]);
        let outer = seq(&[&inner, &inner]);
        let (t, rest) = read_tlv(&outer).unwrap();
        assert!(rest.is_empty());
        assert_eq!(t.tag, SEQUENCE);
        assert_eq!(t.content.len(), 6);
        assert!(read_tlv(&outer[..outer.len() - 1]).is_none());
    }
}
