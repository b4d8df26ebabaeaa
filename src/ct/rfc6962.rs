//! The RFC 6962 v1 read API as a monitor uses it: URLs, `get-sth` and `get-entries` bodies.
//!
//! Pure decoding, no I/O: the fetcher hands in response bodies and gets typed results back.
//!
//! # Invariants worth naming
//!
//! - Entry `k` of a get-entries response is leaf `start + k`: responses carry no index
//!   (RFC 6962 §4.6), so the index is computed here, once, with overflow checked.
//! - Page-level problems (not JSON, no `entries`, an empty page, more entries than requested)
//!   fail the whole page: the caller must retry, since it cannot know which leaves it got.
//!   Entry-level problems (bad base64, a broken or unknown leaf) fail only that entry, each
//!   [`EntryError`] carrying its index so the caller counts and skips exactly that leaf.
//! - An over-long page is rejected while parsing, before its entries are allocated: a hostile
//!   log cannot make us build a million-element vector to then throw away.
//! - JSON strings are borrowed from the body whenever they contain no escapes (`Cow`), which
//!   is always the case for base64 written by real logs.

use std::{borrow::Cow, cell::Cell, fmt};

use base64::Engine as _;
use bytes::Bytes;
use serde::{
    de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor},
    Deserialize, Deserializer,
};

use super::{
    entry::LogEntry,
    error::{DecodeFailure, DecodeKind},
    leaf::{decode_rfc6962_entry, LeafError},
    sig::{tree_head_signed_data, verify_digitally_signed, LogKey, SigError},
};
use crate::limits::RESPONSE_BYTES_MAX;

// ---- URLs --------------------------------------------------------------------------------------

/// `log_url` with exactly the trailing slash the v3 list promises (custom configs may omit it).
pub(crate) fn with_slash(log_url: &str) -> Cow<'_, str> {
    if log_url.ends_with('/') {
        Cow::Borrowed(log_url)
    } else {
        Cow::Owned(format!("{log_url}/"))
    }
}

/// `<url>ct/v1/get-sth` (RFC 6962 §4.3).
pub fn get_sth_url(log_url: &str) -> String {
    format!("{}ct/v1/get-sth", with_slash(log_url))
}

/// `<url>ct/v1/get-entries?start=S&end=E`, both bounds inclusive (RFC 6962 §4.6).
pub fn get_entries_url(log_url: &str, start: u64, end: u64) -> String {
    format!(
        "{}ct/v1/get-entries?start={start}&end={end}",
        with_slash(log_url)
    )
}

/// The certstream `cert_link` of one entry: the get-entries URL for exactly that index.
pub fn cert_link(log_url: &str, index: u64) -> String {
    get_entries_url(log_url, index, index)
}

// ---- Errors ------------------------------------------------------------------------------------

/// Why a whole response body was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseError {
    /// The body exceeds [`RESPONSE_BYTES_MAX`].
    TooLarge { len: usize },
    /// Not JSON, or JSON of the wrong shape (wrong types, missing STH fields).
    InvalidJson { reason: String },
    /// A JSON object without an `entries` array.
    MissingEntries,
    /// `entries` is empty: the log gave us nothing, so the cursor cannot advance.
    EmptyPage,
    /// The log returned more entries than were asked for (RFC 6962 forbids it).
    TooManyEntries { requested: u64 },
    /// `start + k` does not fit a u64.
    IndexOverflow { start: u64 },
    /// `sha256_root_hash` is not valid base64.
    RootHashBase64,
    /// `sha256_root_hash` does not decode to 32 bytes.
    RootHashLength { len: usize },
    /// `tree_head_signature` is not valid base64.
    SignatureBase64,
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponseError::TooLarge { len } => {
                write!(
                    f,
                    "response body of {len} bytes exceeds {RESPONSE_BYTES_MAX}"
                )
            }
            ResponseError::InvalidJson { reason } => write!(f, "invalid JSON body: {reason}"),
            ResponseError::MissingEntries => write!(f, "get-entries body has no \"entries\""),
            ResponseError::EmptyPage => write!(f, "get-entries returned no entries"),
            ResponseError::TooManyEntries { requested } => {
                write!(
                    f,
                    "get-entries returned more than the {requested} entries requested"
                )
            }
            ResponseError::IndexOverflow { start } => {
                write!(f, "entry index past start={start} overflows u64")
            }
            ResponseError::RootHashBase64 => write!(f, "get-sth sha256_root_hash is not base64"),
            ResponseError::RootHashLength { len } => {
                write!(f, "get-sth sha256_root_hash is {len} bytes, not 32")
            }
            ResponseError::SignatureBase64 => {
                write!(f, "get-sth tree_head_signature is not base64")
            }
        }
    }
}

impl std::error::Error for ResponseError {}

impl DecodeFailure for ResponseError {
    fn kind(&self) -> DecodeKind {
        match self {
            ResponseError::TooLarge { .. } => DecodeKind::TooLarge,
            ResponseError::InvalidJson { .. }
            | ResponseError::MissingEntries
            | ResponseError::RootHashBase64
            | ResponseError::RootHashLength { .. }
            | ResponseError::SignatureBase64 => DecodeKind::Malformed,
            ResponseError::EmptyPage
            | ResponseError::TooManyEntries { .. }
            | ResponseError::IndexOverflow { .. } => DecodeKind::Mismatch,
        }
    }
}

/// What is wrong with one get-entries entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryErrorKind {
    /// The entry object lacks `leaf_input` or `extra_data`.
    MissingField(&'static str),
    /// `leaf_input` is not valid standard base64.
    LeafInputBase64,
    /// `extra_data` is not valid standard base64.
    ExtraDataBase64,
    /// The decoded bytes are broken, or of a type we do not know
    /// ([`LeafError::is_unknown_type`]).
    Leaf(LeafError),
}

/// One entry of a get-entries page that could not be decoded; the rest of the page is fine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryError {
    /// The leaf index of the entry.
    pub index: u64,
    pub kind: EntryErrorKind,
}

impl fmt::Display for EntryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let index = self.index;
        match &self.kind {
            EntryErrorKind::MissingField(name) => write!(f, "entry {index}: no \"{name}\""),
            EntryErrorKind::LeafInputBase64 => {
                write!(f, "entry {index}: leaf_input is not valid base64")
            }
            EntryErrorKind::ExtraDataBase64 => {
                write!(f, "entry {index}: extra_data is not valid base64")
            }
            EntryErrorKind::Leaf(e) => write!(f, "entry {index}: {e}"),
        }
    }
}

impl std::error::Error for EntryError {}

impl DecodeFailure for EntryError {
    fn kind(&self) -> DecodeKind {
        match &self.kind {
            EntryErrorKind::MissingField(_)
            | EntryErrorKind::LeafInputBase64
            | EntryErrorKind::ExtraDataBase64 => DecodeKind::Malformed,
            EntryErrorKind::Leaf(e) => e.kind(),
        }
    }
}

fn invalid_json(e: sonic_rs::Error) -> ResponseError {
    ResponseError::InvalidJson {
        reason: e.to_string(),
    }
}

/// Checks the size bound and UTF-8 before any JSON parsing.
///
/// UTF-8 is checked up front because sonic-rs 0.5 defers its own check to the end of
/// `from_slice` and meanwhile builds `&str`s over the raw bytes (a debug assertion fires, and
/// in release it is undefined behaviour, on a body with invalid UTF-8 inside a skipped value).
/// Parsing from a checked `&str` closes that hole.
fn utf8_body(body: &[u8]) -> Result<&str, ResponseError> {
    if body.len() > RESPONSE_BYTES_MAX {
        return Err(ResponseError::TooLarge { len: body.len() });
    }
    std::str::from_utf8(body).map_err(|e| ResponseError::InvalidJson {
        reason: format!("not UTF-8: {e}"),
    })
}

// ---- get-sth -----------------------------------------------------------------------------------

/// A decoded (not yet verified) get-sth response (RFC 6962 §4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTreeHead {
    pub tree_size: u64,
    pub timestamp_ms: u64,
    pub root_hash: [u8; 32],
    /// The TLS `DigitallySigned` over the 50-byte `TreeHeadSignature`.
    pub signature: Vec<u8>,
}

#[derive(Deserialize)]
struct RawSth<'a> {
    tree_size: u64,
    timestamp: u64,
    #[serde(borrow)]
    sha256_root_hash: Cow<'a, str>,
    #[serde(borrow)]
    tree_head_signature: Cow<'a, str>,
}

/// Decodes a get-sth body. Does not verify the signature: see [`verify_sth`].
pub fn parse_sth(body: &[u8]) -> Result<SignedTreeHead, ResponseError> {
    let raw: RawSth<'_> = sonic_rs::from_str(utf8_body(body)?).map_err(invalid_json)?;
    let engine = &base64::engine::general_purpose::STANDARD;
    let root = engine
        .decode(raw.sha256_root_hash.as_bytes())
        .map_err(|_| ResponseError::RootHashBase64)?;
    let root_hash: [u8; 32] = root
        .as_slice()
        .try_into()
        .map_err(|_| ResponseError::RootHashLength { len: root.len() })?;
    let signature = engine
        .decode(raw.tree_head_signature.as_bytes())
        .map_err(|_| ResponseError::SignatureBase64)?;
    Ok(SignedTreeHead {
        tree_size: raw.tree_size,
        timestamp_ms: raw.timestamp,
        root_hash,
        signature,
    })
}

/// Verifies an STH's signature with the log's key (RFC 6962 §3.5).
pub fn verify_sth(sth: &SignedTreeHead, key: &LogKey) -> Result<(), SigError> {
    let signed = tree_head_signed_data(sth.timestamp_ms, sth.tree_size, &sth.root_hash);
    verify_digitally_signed(key, &signed, &sth.signature)
}

// ---- get-entries -------------------------------------------------------------------------------

#[derive(Deserialize)]
struct RawEntry<'a> {
    #[serde(borrow, default)]
    leaf_input: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    extra_data: Option<Cow<'a, str>>,
}

/// Deserializes the top-level object, handing `entries` to [`EntriesSeed`] and skipping
/// everything else.
struct PageVisitor<'c> {
    max: usize,
    overflowed: &'c Cell<bool>,
}

impl<'de> Visitor<'de> for PageVisitor<'_> {
    type Value = Option<Vec<RawEntry<'de>>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a get-entries object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "entries" {
                let seed = EntriesSeed {
                    max: self.max,
                    overflowed: self.overflowed,
                };
                entries = Some(map.next_value_seed(seed)?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(entries)
    }
}

/// Deserializes the `entries` array, failing as soon as it holds more than `max` elements.
struct EntriesSeed<'c> {
    max: usize,
    overflowed: &'c Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for EntriesSeed<'_> {
    type Value = Vec<RawEntry<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EntriesSeed<'_> {
    type Value = Vec<RawEntry<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of get-entries entries")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(self.max.min(seq.size_hint().unwrap_or(0)));
        while let Some(entry) = seq.next_element::<RawEntry<'de>>()? {
            if out.len() == self.max {
                self.overflowed.set(true);
                return Err(de::Error::custom("more entries than requested"));
            }
            out.push(entry);
        }
        Ok(out)
    }
}

/// Parses the JSON of a get-entries page, at most `max` entries.
fn parse_page(text: &str, max: usize) -> Result<Vec<RawEntry<'_>>, ResponseError> {
    let overflowed = Cell::new(false);
    let mut de = sonic_rs::Deserializer::from_str(text);
    let parsed = de
        .deserialize_map(PageVisitor {
            max,
            overflowed: &overflowed,
        })
        .and_then(|entries| de.end().map(|()| entries));
    match parsed {
        Ok(Some(entries)) => Ok(entries),
        Ok(None) => Err(ResponseError::MissingEntries),
        Err(_) if overflowed.get() => Err(ResponseError::TooManyEntries {
            requested: max as u64,
        }),
        Err(e) => Err(invalid_json(e)),
    }
}

/// Decodes one raw entry into bytes and then into a [`LogEntry`].
fn decode_entry(index: u64, raw: &RawEntry<'_>) -> Result<LogEntry, EntryError> {
    let fail = |kind| EntryError { index, kind };
    let engine = &base64::engine::general_purpose::STANDARD;
    let leaf_input = raw
        .leaf_input
        .as_ref()
        .ok_or(fail(EntryErrorKind::MissingField("leaf_input")))?;
    let extra_data = raw
        .extra_data
        .as_ref()
        .ok_or(fail(EntryErrorKind::MissingField("extra_data")))?;
    let leaf_input = engine
        .decode(leaf_input.as_bytes())
        .map_err(|_| fail(EntryErrorKind::LeafInputBase64))?;
    let extra_data = engine
        .decode(extra_data.as_bytes())
        .map_err(|_| fail(EntryErrorKind::ExtraDataBase64))?;
    decode_rfc6962_entry(index, &Bytes::from(leaf_input), &Bytes::from(extra_data))
        .map_err(|e| fail(EntryErrorKind::Leaf(e)))
}

/// Decodes a get-entries page requested as `start=start&end=start+requested-1`.
///
/// Returns one result per entry, in order (entry `k` is leaf `start + k`); a short page is
/// normal and the caller advances by its length.
pub fn parse_get_entries(
    body: &[u8],
    start: u64,
    requested: u64,
) -> Result<Vec<Result<LogEntry, EntryError>>, ResponseError> {
    let text = utf8_body(body)?;
    // A page larger than usize::MAX entries cannot exist in memory anyway.
    let max = usize::try_from(requested).unwrap_or(usize::MAX);
    let raw = parse_page(text, max)?;
    if raw.is_empty() {
        return Err(ResponseError::EmptyPage);
    }
    let last_offset = raw.len() as u64 - 1;
    if start.checked_add(last_offset).is_none() {
        return Err(ResponseError::IndexOverflow { start });
    }
    // No overflow: `start + last_offset` was checked above. (Not `zip(start..)`: `RangeFrom`
    // computes one past the last index it yields, which overflows at u64::MAX.)
    Ok(raw
        .iter()
        .enumerate()
        .map(|(k, e)| decode_entry(start + k as u64, e))
        .collect())
}

#[cfg(test)]
mod tests {
    use sonic_rs::{JsonContainerTrait as _, JsonValueTrait as _};

    use super::*;
    use crate::ct::{entry::EntryKind, leaf::leaf_hash};

    fn fixture(rel: &str) -> Vec<u8> {
        crate::ct::ctdata(&format!("rfc6962/{rel}"))
    }

    fn b64(s: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD.decode(s).unwrap()
    }

    /// Leaf hashes of the entry at `k`, recomputed from the raw body (independent of decoding).
    fn leaf_hashes(body: &[u8]) -> Vec<String> {
        let v: sonic_rs::Value = sonic_rs::from_slice(body).unwrap();
        let entries = v.get("entries").unwrap().as_array().unwrap();
        entries
            .iter()
            .map(|e| {
                let li = b64(e.get("leaf_input").unwrap().as_str().unwrap());
                base64::engine::general_purpose::STANDARD.encode(leaf_hash(&li))
            })
            .collect()
    }

    fn ok_entries(body: &[u8], start: u64, requested: u64) -> Vec<LogEntry> {
        parse_get_entries(body, start, requested)
            .unwrap()
            .into_iter()
            .map(|r| r.unwrap())
            .collect()
    }

    fn sha256_b64(data: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(crate::ct::hash::sha256(&[data]))
    }

    #[test]
    fn urls() {
        let u = "https://ct.googleapis.com/logs/us1/argon2025h2/";
        assert_eq!(
            get_sth_url(u),
            "https://ct.googleapis.com/logs/us1/argon2025h2/ct/v1/get-sth"
        );
        assert_eq!(
            get_entries_url(u, 10, 265),
            "https://ct.googleapis.com/logs/us1/argon2025h2/ct/v1/get-entries?start=10&end=265"
        );
        let bare = "https://log.bob.io";
        assert_eq!(get_sth_url(bare), "https://log.bob.io/ct/v1/get-sth");
        assert_eq!(
            cert_link(bare, 7),
            "https://log.bob.io/ct/v1/get-entries?start=7&end=7"
        );
    }

    #[test]
    fn argon2020_x509_entry() {
        let body = fixture("argon2020_get-entries_10000-10000.json");
        let e = ok_entries(&body, 10000, 1).remove(0);
        assert_eq!(e.index, 10000);
        assert_eq!(e.kind, EntryKind::X509);
        assert_eq!(e.timestamp_ms, 1505737861715);
        assert_eq!(e.chain.len(), 3);
        assert_eq!(
            leaf_hashes(&body),
            ["nCs3mfIydh9x4CKyQ+u2xtmpxmFggA5MLymHwNQSlLg="]
        );
        let (_, cert) = x509_parser::parse_x509_certificate(&e.leaf_der).unwrap();
        let cn = cert
            .subject()
            .iter_common_name()
            .next()
            .unwrap()
            .as_str()
            .unwrap();
        assert_eq!(cn, "*.landlords.com.au");
        for c in &e.chain {
            let (rest, _) = x509_parser::parse_x509_certificate(c).unwrap();
            assert!(rest.is_empty());
        }
    }

    #[test]
    fn pilot_four_x509_entries_with_index_arithmetic() {
        let body = fixture("pilot_get-entries_0-3.json");
        let entries = ok_entries(&body, 0, 4);
        let got: Vec<_> = entries
            .iter()
            .map(|e| (e.index, e.timestamp_ms, e.chain.len()))
            .collect();
        assert_eq!(
            got,
            [
                (0, 1364258252899, 2),
                (1, 1364288407155, 3),
                (2, 1364288407155, 3),
                (3, 1364288407156, 2)
            ]
        );
        assert!(entries.iter().all(|e| e.kind == EntryKind::X509));
        assert_eq!(
            leaf_hashes(&body),
            [
                "wDblrkBlhZ7UqimOaRS18MjqvNyt/Fc2tcy6nWONY84=",
                "/NeD2RVJUnnzreBeKM4fCCWk+KZzG2ctHdm9LLngwJY=",
                "h6Wo6zvO+d293qbd/5bfwMae9eh4jAZULr6i2fLAop4=",
                "ZQTM8g4mqf80Mb7LHTEJfMWK3DlJC+ztM3WNPnYB9Yc=",
            ]
        );
        // The same body read as a later page: indices follow `start`.
        let shifted = ok_entries(&body, 1000, 256);
        assert_eq!(
            shifted.iter().map(|e| e.index).collect::<Vec<_>>(),
            [1000, 1001, 1002, 1003]
        );
    }

    #[test]
    fn geotrust_precert_uses_pre_certificate_not_tbs() {
        let body = fixture("geotrust-test_precert_get-entries.json");
        let e = ok_entries(&body, 5, 1).remove(0);
        assert_eq!(e.kind, EntryKind::Precert);
        assert_eq!(e.timestamp_ms, 1422867427528);
        // ct-protocol.md §1.5: 1447-byte precert, chain of 1066 + 1005 + 718 bytes.
        assert_eq!(e.leaf_der.len(), 1447);
        assert_eq!(
            e.chain.iter().map(|c| c.len()).collect::<Vec<_>>(),
            [1066, 1005, 718]
        );
        assert_eq!(
            leaf_hashes(&body),
            ["+9w+LseH7yXT1hVQn/NsRJMFd2AZc7YSzXkTQJIKNlQ="]
        );
        let (_, cert) = x509_parser::parse_x509_certificate(&e.leaf_der).unwrap();
        let poison = cert
            .extensions()
            .iter()
            .any(|x| x.oid.to_id_string() == "1.3.6.1.4.1.11129.2.4.3");
        assert!(
            poison,
            "leaf_der must be the signed precertificate with its poison extension"
        );
        // issuer_key_hash (leaf_input bytes 12..44) is SHA-256 of chain[0]'s SPKI.
        let v: sonic_rs::Value = sonic_rs::from_slice(&body).unwrap();
        let li = b64(v.get("entries").unwrap().as_array().unwrap()[0]
            .get("leaf_input")
            .unwrap()
            .as_str()
            .unwrap());
        let (_, issuer) = x509_parser::parse_x509_certificate(&e.chain[0]).unwrap();
        assert_eq!(
            li[12..44],
            crate::ct::hash::sha256(&[issuer.tbs_certificate.subject_pki.raw])
        );
    }

    #[test]
    fn navigli_derived_precert_entries() {
        let expect: [(&str, u64, &[&str]); 5] = [
            (
                "navigli2025h2_get-entries_0-15.json",
                0,
                &[
                    "yFPVEhEEE1qF+KZqnRbWIjTVQUc+14QkAyYiVkut3d8=",
                    "WRdRzx0hDueiPMqDejPJRx1xHIy+f1F0XZuHt0xDztU=",
                    "kvQxbNdXCgl7Ddg7qmjXCWXeM/fXO3fZ+qRYh5ej9bc=",
                    "CBRIaekKdEBRNGW2GR5RElBGfm35GvmJ4c1RHhPVhl4=",
                    "q84YX53s1fyd+flYXdBB9gSOlNs3Q6qPsqdUnE1dAy8=",
                    "tGGO79iJkeTCS2WxIHelO9qK710USrTp1bytWdcabBw=",
                    "yMprcDKcGTAw9Ik0+Tu1MtdKD3WQBb5RlOkxuwjA1hY=",
                    "6I/tBJ8rfL2ZMGVEZ//tKFjZD4DSNlYpjIE/rYqnI2U=",
                    "ZUtggoTfE7/tZWnAkb81tCbpHsqnzhhtjq83XnmZgvQ=",
                    "SViHMXsKASARmveOuM3eLFW5SfrmqycttVlgmXswqgo=",
                    "0pU4WoXREV+bCzA8srWh641oeq+mVD6iydXYTdRuHr0=",
                    "ODZyhTzivcu6kgRKpbtrmIhI3u7+ycLnJpjOhs4RHGw=",
                    "UthB5BtmeDyWlM9U1krTKiN1a2foL//2y5BEXELVOZs=",
                    "4dzXv99cQxh1uUNpOEEMo7QnE4mOV8No9HWkPVYYDhM=",
                    "sgDhCQjo3iiDGM9delyWKrf9wu/OMZb+X7VrqdE4jY4=",
                    "ocK4Ym7tf54ZMadoBZpLiBTPz2MNsWKFs9STi3CStt0=",
                ],
            ),
            (
                "navigli2025h2_get-entries_168-168.json",
                168,
                &["NCEBFAp3yKEY49nV9sAfaTncQSM3rmG2r8bYrD5onmM="],
            ),
            (
                "navigli2025h2_get-entries_281-281.json",
                281,
                &["shks2W71VGdhFfbXt3xu1CN4JTgBdVyruk8RRvZiNnc="],
            ),
            (
                "navigli2025h2_get-entries_543-543.json",
                543,
                &["2xRMLVVuL/kKw5zx/2q0RcESfaxochAIIzgZkL9aEhg="],
            ),
            (
                "navigli2025h2_get-entries_747-747.json",
                747,
                &["YRQOZVTsm4nfKo0J/n0no3IAIsR7NiYgOMudRj1lSYg="],
            ),
        ];
        let issuers = [
            "54588456f084df53d35714fb90760edaf1d222500858b4c07d3a4d91308dec42",
            "8dbfd9adf53278fccfee54d18d60c1639986ee288f45ceaf6e27d33a3fed0842",
            "a0249f0ed148f481e1c1b423dfb7e93b1e3ec8e917b7982a9b698ca786d08b92",
            "a9933c5ccae8726c528541bbe6176ad20f922bf139b9430077bf6036a2979d28",
            "e70570a989f8565aabdf7cae27abd1621872d6a3f811e3fef27e3dba02912198",
        ];
        for (file, start, hashes) in expect {
            let body = fixture(file);
            let entries = ok_entries(&body, start, hashes.len() as u64);
            assert_eq!(entries.len(), hashes.len(), "{file}");
            assert_eq!(leaf_hashes(&body), hashes, "{file}");
            for (k, e) in entries.iter().enumerate() {
                assert_eq!(e.index, start + k as u64);
                assert_eq!(e.kind, EntryKind::Precert);
                assert_eq!(e.chain.len(), 2, "{file} entry {k}");
                for c in &e.chain {
                    let hex: String = crate::ct::hash::sha256(&[c])
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect();
                    assert!(
                        issuers.contains(&hex.as_str()),
                        "{file}: chain cert {hex} not in issuer/"
                    );
                }
            }
        }
        // Entry 0's timestamp is the one in the data tile (ct-protocol.md §2.4).
        let first = ok_entries(&fixture("navigli2025h2_get-entries_0-15.json"), 0, 16).remove(0);
        assert_eq!(first.timestamp_ms, 1746292399101);
        assert_eq!(first.leaf_der.len(), 1446);
        assert_eq!(sha256_b64(&first.leaf_der).len(), 44);
    }

    #[test]
    fn page_level_errors() {
        let body = fixture("pilot_get-entries_0-3.json");
        assert_eq!(
            parse_get_entries(&body, 0, 3).unwrap_err(),
            ResponseError::TooManyEntries { requested: 3 }
        );
        assert_eq!(
            parse_get_entries(b"{\"entries\":[]}", 0, 3).unwrap_err(),
            ResponseError::EmptyPage
        );
        assert_eq!(
            parse_get_entries(b"{\"other\":1}", 0, 3).unwrap_err(),
            ResponseError::MissingEntries
        );
        assert!(matches!(
            parse_get_entries(b"<html>", 0, 3),
            Err(ResponseError::InvalidJson { .. })
        ));
        assert!(matches!(
            parse_get_entries(b"[1,2]", 0, 3),
            Err(ResponseError::InvalidJson { .. })
        ));
        assert!(matches!(
            parse_get_entries(b"{\"entries\":5}", 0, 3),
            Err(ResponseError::InvalidJson { .. })
        ));
        assert!(matches!(
            parse_get_entries(&body[..body.len() - 2], 0, 4),
            Err(ResponseError::InvalidJson { .. })
        ));
        let mut trailing = body.clone();
        trailing.extend_from_slice(b" x");
        assert!(matches!(
            parse_get_entries(&trailing, 0, 4),
            Err(ResponseError::InvalidJson { .. })
        ));
        assert_eq!(
            parse_get_entries(&body, u64::MAX - 1, 4).unwrap_err(),
            ResponseError::IndexOverflow {
                start: u64::MAX - 1
            }
        );
        assert_eq!(parse_get_entries(&body, u64::MAX - 3, 4).unwrap().len(), 4);
        let huge = vec![b' '; RESPONSE_BYTES_MAX + 1];
        assert!(matches!(
            parse_get_entries(&huge, 0, 1),
            Err(ResponseError::TooLarge { .. })
        ));
    }

    #[test]
    fn escaped_strings_still_decode() {
        // "\/" is a legal JSON escape some encoders use for '/', common in base64.
        let body = fixture("argon2020_get-entries_10000-10000.json");
        let escaped = String::from_utf8(body).unwrap().replace('/', "\\/");
        let e = ok_entries(escaped.as_bytes(), 10000, 1).remove(0);
        assert_eq!(e.chain.len(), 3);
    }

    #[test]
    fn entry_level_errors_skip_only_that_entry() {
        let body = fixture("pilot_get-entries_0-3.json");
        let v: sonic_rs::Value = sonic_rs::from_slice(&body).unwrap();
        let good = v.get("entries").unwrap().as_array().unwrap()[1].clone();
        let good = sonic_rs::to_string(&good).unwrap();
        let page = format!(
            "{{\"entries\":[{good},{{\"leaf_input\":\"AAA*\",\"extra_data\":\"\"}},\
             {{\"extra_data\":\"\"}},{good}]}}"
        );
        let out = parse_get_entries(page.as_bytes(), 50, 4).unwrap();
        assert_eq!(out.len(), 4);
        assert_eq!(out[0].as_ref().unwrap().index, 50);
        assert_eq!(
            out[1].as_ref().unwrap_err(),
            &EntryError {
                index: 51,
                kind: EntryErrorKind::LeafInputBase64
            }
        );
        assert_eq!(
            out[2].as_ref().unwrap_err(),
            &EntryError {
                index: 52,
                kind: EntryErrorKind::MissingField("leaf_input")
            }
        );
        assert_eq!(out[3].as_ref().unwrap().index, 53);
        assert_eq!(
            out[1].as_ref().unwrap_err().to_string(),
            "entry 51: leaf_input is not valid base64"
        );
    }

    #[test]
    fn malformed_get_entries_bodies() {
        // Both fixtures' leaf_input values are invalid standard base64 too ("Z29vZA" lacks
        // padding, "bogus" is not a base64 length), and leaf_input is decoded first.
        for file in [
            "get-entries_extra-data-not-base64.json",
            "get-entries_leaf-input-not-base64.json",
        ] {
            let out = parse_get_entries(&fixture(&format!("malformed/{file}")), 7, 1).unwrap();
            assert_eq!(out.len(), 1, "{file}");
            let err = out[0].as_ref().unwrap_err();
            assert_eq!(err.index, 7);
            assert_eq!(err.kind, EntryErrorKind::LeafInputBase64, "{file}");
        }
        // get-entry-and-proof bodies have no "entries" at all.
        for file in [
            "get-entry-and-proof_audit-path-no-base64.json",
            "get-entry-and-proof_extra-data-not-base64.json",
            "get-entry-and-proof_leaf-input-not-base64.json",
        ] {
            let err = parse_get_entries(&fixture(&format!("malformed/{file}")), 0, 1).unwrap_err();
            assert_eq!(err, ResponseError::MissingEntries, "{file}");
        }
        // Valid base64 but not a MerkleTreeLeaf: a LeafError, not a base64 error.
        let page = br#"{"entries":[{"leaf_input":"Z29vZA==","extra_data":"Z29vZA=="}]}"#;
        let out = parse_get_entries(page, 0, 1).unwrap();
        assert!(matches!(
            out[0],
            Err(EntryError {
                kind: EntryErrorKind::Leaf(LeafError::UnknownVersion(b'g')),
                ..
            })
        ));
    }

    #[test]
    fn malformed_get_sth_bodies() {
        let cases = [
            (
                "get-sth_both-not-base64.json",
                ResponseError::RootHashBase64,
            ),
            (
                "get-sth_root-not-base64.json",
                ResponseError::RootHashBase64,
            ),
            (
                "get-sth_sig-not-base64.json",
                ResponseError::RootHashLength { len: 4 },
            ),
            (
                "get-sth_invalid-hash-len.json",
                ResponseError::RootHashLength { len: 3 },
            ),
        ];
        for (file, want) in cases {
            assert_eq!(
                parse_sth(&fixture(&format!("malformed/{file}"))).unwrap_err(),
                want,
                "{file}"
            );
        }
        // A 32-byte root with a bogus signature reaches the signature check.
        let body = concat!(
            r#"{"tree_size":1,"timestamp":2,"#,
            r#""sha256_root_hash":"AWxD3p811N3m4WTinWRXPvBZHfT9IR9g/R4C7SKLPiU=","#,
            r#""tree_head_signature":"bogus"}"#
        )
        .as_bytes();
        assert_eq!(parse_sth(body).unwrap_err(), ResponseError::SignatureBase64);
        assert!(matches!(
            parse_sth(b"{\"tree_size\":1}"),
            Err(ResponseError::InvalidJson { .. })
        ));
        let negative =
            br#"{"tree_size":-1,"timestamp":2,"sha256_root_hash":"","tree_head_signature":""}"#;
        assert!(matches!(
            parse_sth(negative),
            Err(ResponseError::InvalidJson { .. })
        ));
    }

    /// Argon2020's key, from ct-go's sample log list (loglists/ctgo_testdata_loglist3.json);
    /// v81.14 no longer lists Argon2020.
    fn argon2020_key() -> LogKey {
        let list = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/loadtest/fixtures/ctdata/loglists/ctgo_testdata_loglist3.json"
        ))
        .unwrap();
        let list = crate::ct::log_list::parse_log_list(&list).unwrap();
        let log = list
            .logs
            .iter()
            .find(|l| l.description == "Google 'Argon2020' log")
            .unwrap();
        log.key.clone()
    }

    #[test]
    fn argon2020_sth_verifies() {
        let sth = parse_sth(&fixture("argon2020_get-sth.json")).unwrap();
        assert_eq!(sth.tree_size, 961984011);
        assert_eq!(sth.timestamp_ms, 1726494206646);
        assert_eq!(&sth.signature[..4], &[4, 3, 0, 0x48]);
        let key = argon2020_key();
        verify_sth(&sth, &key).unwrap();

        let mut wrong = sth.clone();
        wrong.root_hash[31] ^= 1;
        assert_eq!(verify_sth(&wrong, &key), Err(SigError::BadSignature));
        let mut wrong = sth.clone();
        wrong.tree_size += 1;
        assert_eq!(verify_sth(&wrong, &key), Err(SigError::BadSignature));
        let mut wrong = sth.clone();
        wrong.timestamp_ms -= 1;
        assert_eq!(verify_sth(&wrong, &key), Err(SigError::BadSignature));
        // Flip every bit of the signature blob in turn: never accepted.
        for i in 0..sth.signature.len() * 8 {
            let mut wrong = sth.clone();
            wrong.signature[i / 8] ^= 1 << (i % 8);
            assert!(verify_sth(&wrong, &key).is_err(), "bit {i} flip accepted");
        }
        // Another log's key does not verify it.
        let other = LogKey::from_base64(crate::ct::sig::test_keys::ARGON2025H2).unwrap();
        assert_eq!(verify_sth(&sth, &other), Err(SigError::BadSignature));
    }
}
