//! DER certificate → the decoded fields of a certstream cert object.
//!
//! # Leniency
//!
//! CT logs hold whatever CAs signed, including certificates that strict parsers reject
//! (negative or non-minimal serials, UTCTime without seconds, non-printable PrintableStrings,
//! undecodable extensions). Rejecting the whole certificate for one bad field would hide it from
//! every client, so the TBSCertificate is walked field by field with the small reader in
//! [`super::der`] and each field is decoded on its own: a field that cannot be decoded becomes
//! `null` (or, for an extension, is left out) and the rest are still emitted. Extension bodies
//! with nested structure (SAN, AIA, AKI, CRL distribution points, key usage, basic constraints)
//! are decoded by x509-parser's per-extension parsers; names, times, serials and algorithm
//! identifiers are simple enough to read directly, which is also what makes them lenient.
//!
//! # Invariants
//!
//! - Nothing here panics on any input; every slice access goes through `get` or the DER reader.
//! - `all_domains` holds at most [`limits::DOMAINS_PER_CERT_MAX`] unique names.

use std::{borrow::Cow, collections::HashSet};

use serde::Serialize;
use x509_parser::{
    extensions::{
        AuthorityInfoAccess, AuthorityKeyIdentifier, BasicConstraints, CRLDistributionPoints,
        DistributionPointName, GeneralName, KeyIdentifier, KeyUsage, SubjectAlternativeName,
    },
    prelude::FromDer,
};

use super::{
    der::{self, tag, Tlv},
    text,
};
use crate::limits;

/// OBJECT IDENTIFIER contents (without tag and length) this module recognises.
mod oid {
    pub const CN: &[u8] = &[0x55, 0x04, 0x03];
    pub const C: &[u8] = &[0x55, 0x04, 0x06];
    pub const L: &[u8] = &[0x55, 0x04, 0x07];
    pub const ST: &[u8] = &[0x55, 0x04, 0x08];
    pub const O: &[u8] = &[0x55, 0x04, 0x0a];
    pub const OU: &[u8] = &[0x55, 0x04, 0x0b];
    pub const EMAIL: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01];

    pub const SKI: &[u8] = &[0x55, 0x1d, 0x0e];
    pub const KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
    pub const SAN: &[u8] = &[0x55, 0x1d, 0x11];
    pub const BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
    pub const CRL_DP: &[u8] = &[0x55, 0x1d, 0x1f];
    pub const POLICIES: &[u8] = &[0x55, 0x1d, 0x20];
    pub const AKI: &[u8] = &[0x55, 0x1d, 0x23];
    pub const EKU: &[u8] = &[0x55, 0x1d, 0x25];
    pub const AIA: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x01];
    pub const SCT_LIST: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x02];
    pub const POISON: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x03];

    /// id-kp (1.3.6.1.5.5.7.3) prefix of the extended key usages.
    pub const KP_PREFIX: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03];
    /// id-ad (1.3.6.1.5.5.7.48) prefix of the access methods.
    pub const AD_PREFIX: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30];
    /// id-qt-cps (1.3.6.1.5.5.7.2.1).
    pub const QT_CPS: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x02, 0x01];

    /// pkcs-1 (1.2.840.113549.1.1) prefix of the RSA signature algorithms.
    pub const PKCS1_PREFIX: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
    pub const RSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
    /// NIST hash algorithms (2.16.840.1.101.3.4.2) prefix.
    pub const NIST_HASH_PREFIX: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02];
    pub const SHA1: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
}

/// `subject` / `issuer`: keys in wire-format order; a repeated attribute keeps its last value.
#[derive(Debug, Default, Serialize, PartialEq)]
pub(crate) struct Name {
    pub aggregated: String,
    #[serde(rename = "C")]
    pub c: Option<String>,
    #[serde(rename = "ST")]
    pub st: Option<String>,
    #[serde(rename = "L")]
    pub l: Option<String>,
    #[serde(rename = "O")]
    pub o: Option<String>,
    #[serde(rename = "OU")]
    pub ou: Option<String>,
    #[serde(rename = "CN")]
    pub cn: Option<String>,
    #[serde(rename = "emailAddress")]
    pub email_address: Option<String>,
}

/// The extensions object: only the extensions present (and decodable), in wire-format order.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Extensions {
    #[serde(rename = "keyUsage", skip_serializing_if = "Option::is_none")]
    pub key_usage: Option<String>,
    #[serde(rename = "extendedKeyUsage", skip_serializing_if = "Option::is_none")]
    pub extended_key_usage: Option<String>,
    #[serde(rename = "basicConstraints", skip_serializing_if = "Option::is_none")]
    pub basic_constraints: Option<String>,
    #[serde(
        rename = "subjectKeyIdentifier",
        skip_serializing_if = "Option::is_none"
    )]
    pub subject_key_identifier: Option<String>,
    #[serde(
        rename = "authorityKeyIdentifier",
        skip_serializing_if = "Option::is_none"
    )]
    pub authority_key_identifier: Option<String>,
    #[serde(
        rename = "authorityInfoAccess",
        skip_serializing_if = "Option::is_none"
    )]
    pub authority_info_access: Option<String>,
    #[serde(rename = "subjectAltName", skip_serializing_if = "Option::is_none")]
    pub subject_alt_name: Option<String>,
    #[serde(
        rename = "certificatePolicies",
        skip_serializing_if = "Option::is_none"
    )]
    pub certificate_policies: Option<String>,
    #[serde(
        rename = "crlDistributionPoints",
        skip_serializing_if = "Option::is_none"
    )]
    pub crl_distribution_points: Option<String>,
    #[serde(
        rename = "ctlSignedCertificateTimestamp",
        skip_serializing_if = "Option::is_none"
    )]
    pub ctl_signed_certificate_timestamp: Option<String>,
    #[serde(rename = "ctlPoisonByte", skip_serializing_if = "Option::is_none")]
    pub ctl_poison_byte: Option<bool>,
}

/// Everything decoded from one certificate's TBS and signature algorithm.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub subject: Option<Name>,
    pub issuer: Option<Name>,
    pub extensions: Extensions,
    pub not_before: Option<i64>,
    pub not_after: Option<i64>,
    pub serial_number: Option<String>,
    pub signature_algorithm: Option<Cow<'static, str>>,
    pub is_ca: bool,
    pub all_domains: Vec<String>,
}

impl Parsed {
    /// True when at least one identifying field was decoded; a certificate without any of them
    /// is not worth streaming.
    fn is_meaningful(&self) -> bool {
        self.subject.is_some()
            || self.issuer.is_some()
            || self.serial_number.is_some()
            || self.not_before.is_some()
    }
}

/// Decodes `der`. Fails (with the reason) when not even the certificate envelope and one
/// identifying TBS field can be read.
pub(crate) fn parse(der: &[u8]) -> Result<Parsed, &'static str> {
    let cert = read_lenient(der, tag::SEQUENCE).ok_or("not a DER SEQUENCE")?;
    let tbs = read_lenient(cert.value, tag::SEQUENCE).ok_or("no TBSCertificate SEQUENCE")?;
    let mut parsed = Parsed::default();
    let tbs_sig_alg = parse_tbs(tbs.value, &mut parsed);
    // The outer algorithm is the one the signature was made with; the TBS copy is the fallback
    // for truncated input (the two differ only in broken certificates).
    let outer_sig_alg = cert
        .value
        .get(tbs.raw.len()..)
        .and_then(|rest| der::read_tagged(rest, tag::SEQUENCE))
        .map(|(alg, _)| alg);
    parsed.signature_algorithm = outer_sig_alg.or(tbs_sig_alg).map(signature_algorithm);
    collect_domains(&mut parsed);
    if parsed.is_meaningful() {
        Ok(parsed)
    } else {
        Err("no TBSCertificate field could be decoded")
    }
}

/// SHA-256 of the TBSCertificate without its CT poison and SCT-list extensions (RFC 6962
/// §3.2): a precertificate and the final certificate issued from it give the same key (unless
/// a Precertificate Signing Certificate signed the precertificate: its issuer then differs).
/// The hash runs over every TBS field's DER and every other extension's DER, in order, not
/// over a re-encoded TBS (same equality, no re-encoding). `None` when the TBS cannot be walked.
pub(crate) fn issuance_key(der: &[u8]) -> Option<[u8; 32]> {
    use sha2::Digest as _;
    let (cert, _) = der::read_tagged(der, tag::SEQUENCE)?;
    let (tbs, _) = der::read_tagged(cert.value, tag::SEQUENCE)?;
    let mut hash = sha2::Sha256::new();
    for field in der::elements(tbs.value) {
        if field.tag != tag::CONTEXT_3 {
            hash.update(field.raw);
            continue;
        }
        let (list, _) = der::read_tagged(field.value, tag::SEQUENCE)?;
        hash.update([tag::CONTEXT_3]);
        for ext in der::elements(list.value) {
            let (oid_tlv, _) = der::read_tagged(ext.value, tag::OID)?;
            if oid_tlv.value != oid::POISON && oid_tlv.value != oid::SCT_LIST {
                hash.update(ext.raw);
            }
        }
    }
    Some(hash.finalize().into())
}

/// Like [`der::read_tagged`], but a value running past the end of `input` is cut at the end
/// instead of failing, so truncated certificates still yield their leading fields.
fn read_lenient(input: &[u8], expected: u8) -> Option<Tlv<'_>> {
    if let Some((tlv, _)) = der::read_tagged(input, expected) {
        return Some(tlv);
    }
    let (&tag_byte, _) = input.split_first()?;
    let len_byte = *input.get(1)?;
    if tag_byte != expected || len_byte == 0x80 {
        return None;
    }
    let header_len = if len_byte < 0x80 {
        2
    } else {
        2 + usize::from(len_byte & 0x7f)
    };
    let value = input.get(header_len..)?;
    Some(Tlv {
        tag: tag_byte,
        value,
        raw: input,
    })
}

/// Walks the TBSCertificate fields in order, filling `parsed`; returns the TBS signature
/// algorithm. A field with an unexpected tag is skipped (left `null`) without losing position.
fn parse_tbs<'a>(tbs: &'a [u8], parsed: &mut Parsed) -> Option<Tlv<'a>> {
    let mut fields = der::elements(tbs).peekable();
    if fields.peek().is_some_and(|f| f.tag == tag::CONTEXT_0) {
        fields.next();
    }
    let mut next_with = |expected: u8| fields.next().filter(|f| f.tag == expected);
    parsed.serial_number = next_with(tag::INTEGER).map(|f| text::serial_hex(f.value));
    let sig_alg = next_with(tag::SEQUENCE);
    parsed.issuer = next_with(tag::SEQUENCE).map(|f| parse_name(f.value));
    if let Some(validity) = next_with(tag::SEQUENCE) {
        let mut times = der::elements(validity.value);
        parsed.not_before = times.next().and_then(|t| text::asn1_time(t.tag, t.value));
        parsed.not_after = times.next().and_then(|t| text::asn1_time(t.tag, t.value));
    }
    parsed.subject = next_with(tag::SEQUENCE).map(|f| parse_name(f.value));
    let _spki = fields.next();
    // issuerUniqueID [1] and subjectUniqueID [2] may precede the extensions [3].
    if let Some(exts) = fields.find(|f| f.tag == tag::CONTEXT_3) {
        if let Some((list, _)) = der::read_tagged(exts.value, tag::SEQUENCE) {
            parse_extensions(list.value, parsed);
        }
    }
    sig_alg
}

/// Decodes a Name (the contents of its RDNSequence), keeping certificate order in `aggregated`.
fn parse_name(rdns: &[u8]) -> Name {
    let mut name = Name::default();
    for rdn in der::elements(rdns).filter(|r| r.tag == tag::SET) {
        for atv in der::elements(rdn.value).filter(|a| a.tag == tag::SEQUENCE) {
            push_attribute(atv.value, &mut name);
        }
    }
    if name.aggregated.is_empty() {
        name.aggregated.push('/');
    }
    name
}

/// Appends one AttributeTypeAndValue to `aggregated` and the named key it maps to.
fn push_attribute(atv: &[u8], name: &mut Name) {
    let Some((oid_tlv, rest)) = der::read_tagged(atv, tag::OID) else {
        return;
    };
    let Some((value, _)) = der::read(rest) else {
        return;
    };
    let text = text::asn1_string(value.tag, value.value, value.raw);
    let (short, slot) = match oid_tlv.value {
        oid::C => ("C", &mut name.c),
        oid::ST => ("ST", &mut name.st),
        oid::L => ("L", &mut name.l),
        oid::O => ("O", &mut name.o),
        oid::OU => ("OU", &mut name.ou),
        oid::CN => ("CN", &mut name.cn),
        oid::EMAIL => ("emailAddress", &mut name.email_address),
        other => {
            name.aggregated.push('/');
            if !der::write_oid(other, &mut name.aggregated) {
                name.aggregated.push('?');
            }
            name.aggregated.push('=');
            name.aggregated.push_str(&text);
            return;
        }
    };
    name.aggregated.push('/');
    name.aggregated.push_str(short);
    name.aggregated.push('=');
    name.aggregated.push_str(&text);
    *slot = Some(text.into_owned());
}

/// `"<hash>, <algorithm>"` for an AlgorithmIdentifier, or its dotted OID when unknown.
fn signature_algorithm(alg: Tlv<'_>) -> Cow<'static, str> {
    let Some((oid_tlv, params)) = der::read_tagged(alg.value, tag::OID) else {
        return Cow::Borrowed("unknown");
    };
    if oid_tlv.value == oid::RSA_PSS {
        return rsa_pss_name(params);
    }
    if let Some(known) = known_signature_algorithm(oid_tlv.value) {
        return Cow::Borrowed(known);
    }
    der::oid_string(oid_tlv.value)
        .map(Cow::Owned)
        .unwrap_or(Cow::Borrowed("unknown"))
}

fn known_signature_algorithm(oid_bytes: &[u8]) -> Option<&'static str> {
    const ECDSA_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01];
    const ECDSA_SHA2_PREFIX: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03];
    const DSA_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x03];
    const NIST_SIG_PREFIX: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03];
    const OIW_SHA1_RSA: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1d];
    const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
    const ED448: &[u8] = &[0x2b, 0x65, 0x71];
    if let Some(&[last]) = oid_bytes.strip_prefix(oid::PKCS1_PREFIX) {
        return match last {
            0x02 => Some("md2, rsa"),
            0x03 => Some("md4, rsa"),
            0x04 => Some("md5, rsa"),
            0x05 => Some("sha1, rsa"),
            0x0b => Some("sha256, rsa"),
            0x0c => Some("sha384, rsa"),
            0x0d => Some("sha512, rsa"),
            0x0e => Some("sha224, rsa"),
            _ => None,
        };
    }
    if let Some(&[last]) = oid_bytes.strip_prefix(ECDSA_SHA2_PREFIX) {
        return match last {
            0x01 => Some("sha224, ecdsa"),
            0x02 => Some("sha256, ecdsa"),
            0x03 => Some("sha384, ecdsa"),
            0x04 => Some("sha512, ecdsa"),
            _ => None,
        };
    }
    if let Some(&[last]) = oid_bytes.strip_prefix(NIST_SIG_PREFIX) {
        return match last {
            0x01 => Some("sha224, dsa"),
            0x02 => Some("sha256, dsa"),
            0x03 => Some("sha384, dsa"),
            0x04 => Some("sha512, dsa"),
            _ => None,
        };
    }
    match oid_bytes {
        ECDSA_SHA1 => Some("sha1, ecdsa"),
        DSA_SHA1 => Some("sha1, dsa"),
        OIW_SHA1_RSA => Some("sha1, rsa"),
        ED25519 => Some("ed25519"),
        ED448 => Some("ed448"),
        _ => None,
    }
}

/// RSASSA-PSS names its hash in the parameters: `[0] EXPLICIT AlgorithmIdentifier`, SHA-1 when
/// absent (RFC 4055 §3.1).
fn rsa_pss_name(params: &[u8]) -> Cow<'static, str> {
    let hash_oid = der::read_tagged(params, tag::SEQUENCE)
        .and_then(|(seq, _)| der::read_tagged(seq.value, tag::CONTEXT_0))
        .and_then(|(explicit, _)| der::read_tagged(explicit.value, tag::SEQUENCE))
        .and_then(|(alg, _)| der::read_tagged(alg.value, tag::OID))
        .map(|(o, _)| o.value);
    let hash = match hash_oid {
        None | Some(oid::SHA1) => "sha1",
        Some(o) => match o.strip_prefix(oid::NIST_HASH_PREFIX) {
            Some([0x01]) => "sha256",
            Some([0x02]) => "sha384",
            Some([0x03]) => "sha512",
            Some([0x04]) => "sha224",
            _ => {
                let dotted = der::oid_string(o).unwrap_or_else(|| "unknown".to_owned());
                return Cow::Owned(format!("{dotted}, rsa-pss"));
            }
        },
    };
    Cow::Owned(format!("{hash}, rsa-pss"))
}

/// Decodes every extension of the Extensions SEQUENCE contents; undecodable ones are left out.
fn parse_extensions(list: &[u8], parsed: &mut Parsed) {
    for ext in der::elements(list).filter(|e| e.tag == tag::SEQUENCE) {
        let Some((oid_tlv, mut rest)) = der::read_tagged(ext.value, tag::OID) else {
            continue;
        };
        if let Some((_critical, after)) = der::read_tagged(rest, tag::BOOLEAN) {
            rest = after;
        }
        let Some((value, _)) = der::read_tagged(rest, tag::OCTET_STRING) else {
            continue;
        };
        apply_extension(oid_tlv.value, value.value, parsed);
    }
}

/// Renders one extension's value into its slot of `parsed.extensions`.
fn apply_extension(ext_oid: &[u8], value: &[u8], parsed: &mut Parsed) {
    let exts = &mut parsed.extensions;
    match ext_oid {
        oid::KEY_USAGE => {
            exts.key_usage = KeyUsage::from_der(value).ok().map(|(_, k)| key_usage(&k))
        }
        oid::EKU => exts.extended_key_usage = extended_key_usage(value),
        oid::BASIC_CONSTRAINTS => {
            if let Ok((_, bc)) = BasicConstraints::from_der(value) {
                parsed.is_ca = bc.ca;
                exts.basic_constraints = Some(basic_constraints(&bc));
            }
        }
        oid::SKI => {
            exts.subject_key_identifier = KeyIdentifier::from_der(value)
                .ok()
                .map(|(_, k)| text::hex_colon(k.0));
        }
        oid::AKI => exts.authority_key_identifier = authority_key_identifier(value),
        oid::AIA => exts.authority_info_access = authority_info_access(value),
        oid::SAN => exts.subject_alt_name = subject_alt_name(value, &mut parsed.all_domains),
        oid::POLICIES => exts.certificate_policies = certificate_policies(value),
        oid::CRL_DP => exts.crl_distribution_points = crl_distribution_points(value),
        oid::SCT_LIST => exts.ctl_signed_certificate_timestamp = Some(base64_standard(value)),
        oid::POISON => exts.ctl_poison_byte = Some(true),
        _ => {}
    }
}

fn base64_standard(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// OpenSSL's names for the KeyUsage bits, in bit order.
fn key_usage(ku: &KeyUsage) -> String {
    const NAMES: [&str; 9] = [
        "Digital Signature",
        "Non Repudiation",
        "Key Encipherment",
        "Data Encipherment",
        "Key Agreement",
        "Certificate Sign",
        "CRL Sign",
        "Encipher Only",
        "Decipher Only",
    ];
    let mut s = String::with_capacity(48);
    for (bit, name) in NAMES.iter().enumerate() {
        if (ku.flags >> bit) & 1 != 0 {
            if !s.is_empty() {
                s.push_str(", ");
            }
            s.push_str(name);
        }
    }
    s
}

/// `SEQUENCE OF KeyPurposeId`, in certificate order, OpenSSL names or dotted OIDs.
fn extended_key_usage(value: &[u8]) -> Option<String> {
    let (seq, _) = der::read_tagged(value, tag::SEQUENCE)?;
    let mut s = String::with_capacity(64);
    for purpose in der::elements(seq.value).filter(|p| p.tag == tag::OID) {
        if !s.is_empty() {
            s.push_str(", ");
        }
        let name = match purpose.value.strip_prefix(oid::KP_PREFIX) {
            Some([0x01]) => "TLS Web Server Authentication",
            Some([0x02]) => "TLS Web Client Authentication",
            Some([0x03]) => "Code Signing",
            Some([0x04]) => "E-mail Protection",
            Some([0x08]) => "Time Stamping",
            Some([0x09]) => "OCSP Signing",
            _ => "",
        };
        if name.is_empty() {
            if !der::write_oid(purpose.value, &mut s) {
                s.push_str("unknown");
            }
        } else {
            s.push_str(name);
        }
    }
    Some(s)
}

fn basic_constraints(bc: &BasicConstraints) -> String {
    let ca = if bc.ca { "CA:TRUE" } else { "CA:FALSE" };
    match bc.path_len_constraint {
        Some(n) => format!("{ca}, pathlen:{n}"),
        None => ca.to_owned(),
    }
}

/// `keyid:` + hex; left out when the extension names the issuer by name and serial only.
fn authority_key_identifier(value: &[u8]) -> Option<String> {
    let (_, aki) = AuthorityKeyIdentifier::from_der(value).ok()?;
    let key_id = aki.key_identifier?;
    let mut s = String::with_capacity(6 + key_id.0.len() * 3);
    s.push_str("keyid:");
    text::push_hex_colon(key_id.0, &mut s);
    Some(s)
}

/// One `<method> - <general name>\n` line per access description.
fn authority_info_access(value: &[u8]) -> Option<String> {
    let (_, aia) = AuthorityInfoAccess::from_der(value).ok()?;
    let mut s = String::with_capacity(128);
    for desc in aia.iter() {
        match desc.access_method.as_bytes().strip_prefix(oid::AD_PREFIX) {
            Some([0x01]) => s.push_str("OCSP"),
            Some([0x02]) => s.push_str("CA Issuers"),
            _ => {
                if !der::write_oid(desc.access_method.as_bytes(), &mut s) {
                    s.push_str("unknown");
                }
            }
        }
        s.push_str(" - ");
        push_general_name(&desc.access_location, &mut s);
        s.push('\n');
    }
    Some(s)
}

/// `DNS:a, IP Address:…` in certificate order; dNSNames are also appended to `domains`.
fn subject_alt_name(value: &[u8], domains: &mut Vec<String>) -> Option<String> {
    let (_, san) = SubjectAlternativeName::from_der(value).ok()?;
    let mut s = String::with_capacity(san.general_names.len() * 24);
    for (i, gn) in san.general_names.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        push_general_name(gn, &mut s);
        if let Some(dns) = dns_name(gn) {
            if domains.len() < limits::DOMAINS_PER_CERT_MAX {
                domains.push(dns.into_owned());
            }
        }
    }
    Some(s)
}

/// The dNSName of a general name, converted if it is not valid UTF-8.
fn dns_name<'a>(gn: &GeneralName<'a>) -> Option<Cow<'a, str>> {
    match gn {
        GeneralName::DNSName(name) => Some(Cow::Borrowed(name)),
        GeneralName::Invalid(t, bytes) if t.0 == 2 => Some(String::from_utf8_lossy(bytes)),
        _ => None,
    }
}

/// OpenSSL's `i2v_GENERAL_NAME` forms.
fn push_general_name(gn: &GeneralName<'_>, out: &mut String) {
    match gn {
        GeneralName::DNSName(v) => {
            out.push_str("DNS:");
            out.push_str(v);
        }
        GeneralName::RFC822Name(v) => {
            out.push_str("email:");
            out.push_str(v);
        }
        GeneralName::URI(v) => {
            out.push_str("URI:");
            out.push_str(v);
        }
        GeneralName::IPAddress(bytes) => {
            out.push_str("IP Address:");
            text::push_ip(bytes, out);
        }
        GeneralName::DirectoryName(name) => {
            out.push_str("DirName:");
            let raw = name.as_raw();
            let contents = der::read_tagged(raw, tag::SEQUENCE).map_or(&[][..], |(t, _)| t.value);
            out.push_str(&parse_name(contents).aggregated);
        }
        GeneralName::RegisteredID(o) => {
            out.push_str("Registered ID:");
            if !der::write_oid(o.as_bytes(), out) {
                out.push_str("unknown");
            }
        }
        GeneralName::OtherName(..) => out.push_str("othername:<unsupported>"),
        GeneralName::X400Address(_) => out.push_str("X400Name:<unsupported>"),
        GeneralName::EDIPartyName(_) => out.push_str("EdiPartyName:<unsupported>"),
        GeneralName::Invalid(t, bytes) => {
            let prefix = match t.0 {
                1 => "email:",
                2 => "DNS:",
                6 => "URI:",
                _ => "invalid:",
            };
            out.push_str(prefix);
            out.push_str(&String::from_utf8_lossy(bytes));
        }
    }
}

/// `Policy: <oid>\n` per policy, followed by `  CPS: <uri>\n` per CPS qualifier.
fn certificate_policies(value: &[u8]) -> Option<String> {
    let (seq, _) = der::read_tagged(value, tag::SEQUENCE)?;
    let mut s = String::with_capacity(96);
    for policy in der::elements(seq.value).filter(|p| p.tag == tag::SEQUENCE) {
        let Some((policy_oid, qualifiers)) = der::read_tagged(policy.value, tag::OID) else {
            continue;
        };
        s.push_str("Policy: ");
        if !der::write_oid(policy_oid.value, &mut s) {
            s.push_str("unknown");
        }
        s.push('\n');
        let Some((qualifiers, _)) = der::read_tagged(qualifiers, tag::SEQUENCE) else {
            continue;
        };
        for qualifier in der::elements(qualifiers.value).filter(|q| q.tag == tag::SEQUENCE) {
            push_cps_qualifier(qualifier.value, &mut s);
        }
    }
    Some(s)
}

fn push_cps_qualifier(qualifier: &[u8], out: &mut String) {
    let Some((id, rest)) = der::read_tagged(qualifier, tag::OID) else {
        return;
    };
    if id.value != oid::QT_CPS {
        return;
    }
    if let Some((uri, _)) = der::read(rest) {
        out.push_str("  CPS: ");
        out.push_str(&text::asn1_string(uri.tag, uri.value, uri.raw));
        out.push('\n');
    }
}

/// `Full Name:\n  <general name>\n` per distribution point that has a full name.
fn crl_distribution_points(value: &[u8]) -> Option<String> {
    let (_, points) = CRLDistributionPoints::from_der(value).ok()?;
    let mut s = String::with_capacity(64);
    for point in points.iter() {
        if let Some(DistributionPointName::FullName(names)) = &point.distribution_point {
            s.push_str("Full Name:\n");
            for gn in names {
                s.push_str("  ");
                push_general_name(gn, &mut s);
                s.push('\n');
            }
        }
    }
    Some(s)
}

/// SAN dNSNames in certificate order, then the subject CN when not already there; duplicates
/// removed keeping the first occurrence.
fn collect_domains(parsed: &mut Parsed) {
    if let Some(cn) = parsed.subject.as_ref().and_then(|s| s.cn.as_ref()) {
        if parsed.all_domains.len() < limits::DOMAINS_PER_CERT_MAX {
            parsed.all_domains.push(cn.clone());
        }
    }
    dedup_keep_first(&mut parsed.all_domains);
}

/// Removes later duplicates in place. Quadratic scans are cheaper than hashing for the few
/// names most certificates carry; long lists switch to a set.
fn dedup_keep_first(names: &mut Vec<String>) {
    const LINEAR_SCAN_MAX: usize = 32;
    if names.len() <= LINEAR_SCAN_MAX {
        let mut kept = 0;
        for i in 0..names.len() {
            if !names[..kept].contains(&names[i]) {
                names.swap(kept, i);
                kept += 1;
            }
        }
        names.truncate(kept);
    } else {
        let mut seen = HashSet::with_capacity(names.len());
        names.retain(|n| seen.insert(n.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_keeps_first_occurrence_in_order() {
        let mut v: Vec<String> = ["a", "b", "a", "c", "b"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        dedup_keep_first(&mut v);
        assert_eq!(v, ["a", "b", "c"]);
        let mut long: Vec<String> = (0..100).map(|i| format!("n{}", i % 40)).collect();
        dedup_keep_first(&mut long);
        assert_eq!(long.len(), 40);
        assert_eq!(long[39], "n39");
    }

    #[test]
    fn empty_name_aggregates_to_slash() {
        assert_eq!(parse_name(&[]).aggregated, "/");
    }

    #[test]
    fn unknown_algorithms_fall_back_to_dotted_oid() {
        // AlgorithmIdentifier { 1.2.3.4 }
        let alg = [0x30, 0x05, 0x06, 0x03, 0x2a, 0x03, 0x04];
        let (tlv, _) = der::read(&alg).unwrap();
        assert_eq!(signature_algorithm(tlv), "1.2.3.4");
    }

    #[test]
    fn pss_without_params_is_sha1() {
        let alg = [
            0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a,
        ];
        let (tlv, _) = der::read(&alg).unwrap();
        assert_eq!(signature_algorithm(tlv), "sha1, rsa-pss");
    }
}
