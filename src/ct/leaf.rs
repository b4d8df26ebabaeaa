//! RFC 6962 leaves: the TLS-encoded `MerkleTreeLeaf` (`leaf_input`) and the `extra_data` that
//! carries the chain, plus the `TimestampedEntry` pieces shared with the Static CT tile decoder.
//! The bytes are read with [`super::tls_codec`].
//!
//! # Layout (RFC 6962 §3.4, §3.1, §4.6; all integers big-endian)
//!
//! ```text
//! leaf_input  = u8 version (0) | u8 leaf_type (0 = timestamped_entry) | TimestampedEntry
//! TimestampedEntry = u64 timestamp | u16 entry_type | signed_entry | opaque extensions<0..2^16-1>
//!   x509_entry (0):    opaque cert<1..2^24-1>
//!   precert_entry (1): [32] issuer_key_hash | opaque tbs_certificate<1..2^24-1>
//! extra_data
//!   x509_entry:    certificate_chain<0..2^24-1>   = { opaque cert<1..2^24-1> }*
//!   precert_entry: opaque pre_certificate<1..2^24-1> | precertificate_chain<0..2^24-1>
//! ```
//!
//! # Invariants worth naming
//!
//! - Strict: every length must fit its buffer, list lengths must equal the sum of their elements,
//!   and nothing may follow the last field. Any violation is an error, never a guess.
//! - Unknown `version`, `leaf_type` or `entry_type` values get their own [`LeafError`] variants
//!   ([`LeafError::is_unknown_type`]): RFC 6962 §4.6 says a client must not treat them as errors,
//!   so callers count and skip the entry instead of reporting a broken log.
//! - Zero copy: `leaf_der` and every chain certificate are [`Bytes`] slices of the decoded
//!   `leaf_input` / `extra_data` buffers ([`Bytes::slice_ref`] on sub-slices the reader handed
//!   out of those very buffers).
//! - At most [`CHAIN_CERTS_MAX`] chain certificates are kept: the rest are still checked for
//!   well-formedness but dropped, because nothing downstream serializes more than that and a
//!   hostile entry must not make us allocate one `Bytes` per 3-byte element.

use std::fmt;

use bytes::Bytes;

use super::entry::{EntryKind, LogEntry};
use super::error::{DecodeFailure, DecodeKind};
use super::hash::sha256;
use super::tls_codec::{TlsError, TlsReader};
use crate::limits::CHAIN_CERTS_MAX;

// ---- TimestampedEntry pieces shared by RFC 6962 leaves and Static CT tile leaves ---------------

/// `LogEntryType` x509_entry.
const ENTRY_TYPE_X509: u16 = 0;
/// `LogEntryType` precert_entry.
const ENTRY_TYPE_PRECERT: u16 = 1;

/// Maps a wire `LogEntryType` to the kinds we understand.
pub(crate) fn entry_kind(raw: u16) -> Option<EntryKind> {
    match raw {
        ENTRY_TYPE_X509 => Some(EntryKind::X509),
        ENTRY_TYPE_PRECERT => Some(EntryKind::Precert),
        _ => None,
    }
}

/// The `signed_entry` of a TimestampedEntry: the certificate for x509 entries, the
/// TBSCertificate (poison removed; not a certificate) for precert entries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SignedEntry<'a> {
    pub(crate) der: &'a [u8],
}

/// Reads `signed_entry` for an entry of `kind`.
pub(crate) fn read_signed_entry<'a>(
    r: &mut TlsReader<'a>,
    kind: EntryKind,
) -> Result<SignedEntry<'a>, TlsError> {
    match kind {
        EntryKind::X509 => Ok(SignedEntry {
            der: r.opaque24(1, "signed_entry.x509_entry")?,
        }),
        EntryKind::Precert => {
            r.bytes(32, "signed_entry.issuer_key_hash")?;
            Ok(SignedEntry {
                der: r.opaque24(1, "signed_entry.tbs_certificate")?,
            })
        }
    }
}

/// Reads a `ASN.1Cert list<0..2^24-1>` (RFC 6962 `certificate_chain` / `precertificate_chain`),
/// keeping at most [`CHAIN_CERTS_MAX`] certificates as zero-copy slices of `owner`.
fn read_chain(
    owner: &Bytes,
    r: &mut TlsReader<'_>,
    field: &'static str,
) -> Result<Vec<Bytes>, TlsError> {
    let mut list = TlsReader::new(r.opaque24(0, field)?);
    let mut chain = Vec::new();
    while !list.is_empty() {
        let cert = list.opaque24(1, field)?;
        if chain.len() < CHAIN_CERTS_MAX {
            chain.push(owner.slice_ref(cert));
        }
    }
    Ok(chain)
}

// ---- RFC 6962 entries --------------------------------------------------------------------------

/// Why one get-entries entry could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeafError {
    /// `leaf_input` is structurally broken.
    LeafInput(TlsError),
    /// `extra_data` is structurally broken (or does not fit the leaf's entry type).
    ExtraData(TlsError),
    /// `MerkleTreeLeaf.version` is not v1 (0).
    UnknownVersion(u8),
    /// `MerkleTreeLeaf.leaf_type` is not timestamped_entry (0).
    UnknownLeafType(u8),
    /// `TimestampedEntry.entry_type` is neither x509_entry (0) nor precert_entry (1).
    UnknownEntryType(u16),
}

impl LeafError {
    /// True for the "not an error, just not for us" cases RFC 6962 §4.6 asks clients to skip:
    /// a version, leaf type or entry type this decoder does not know.
    pub fn is_unknown_type(&self) -> bool {
        self.kind() == DecodeKind::Unsupported
    }
}

impl fmt::Display for LeafError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeafError::LeafInput(e) => write!(f, "leaf_input: {e}"),
            LeafError::ExtraData(e) => write!(f, "extra_data: {e}"),
            LeafError::UnknownVersion(v) => write!(f, "leaf_input: unknown version {v}"),
            LeafError::UnknownLeafType(t) => write!(f, "leaf_input: unknown leaf_type {t}"),
            LeafError::UnknownEntryType(t) => write!(f, "leaf_input: unknown entry_type {t}"),
        }
    }
}

impl std::error::Error for LeafError {}

impl DecodeFailure for LeafError {
    fn kind(&self) -> DecodeKind {
        match self {
            LeafError::LeafInput(e) | LeafError::ExtraData(e) => e.kind(),
            LeafError::UnknownVersion(_)
            | LeafError::UnknownLeafType(_)
            | LeafError::UnknownEntryType(_) => DecodeKind::Unsupported,
        }
    }
}

/// `MerkleTreeLeaf.version` v1.
const LEAF_VERSION_V1: u8 = 0;
/// `MerkleLeafType` timestamped_entry.
const LEAF_TYPE_TIMESTAMPED_ENTRY: u8 = 0;

/// The parts of a decoded `leaf_input` the entry needs.
struct ParsedLeafInput<'a> {
    timestamp_ms: u64,
    kind: EntryKind,
    signed_entry: SignedEntry<'a>,
}

fn parse_leaf_input(leaf_input: &[u8]) -> Result<ParsedLeafInput<'_>, LeafError> {
    let mut r = TlsReader::new(leaf_input);
    let version = r.u8("version").map_err(LeafError::LeafInput)?;
    if version != LEAF_VERSION_V1 {
        return Err(LeafError::UnknownVersion(version));
    }
    let leaf_type = r.u8("leaf_type").map_err(LeafError::LeafInput)?;
    if leaf_type != LEAF_TYPE_TIMESTAMPED_ENTRY {
        return Err(LeafError::UnknownLeafType(leaf_type));
    }
    let timestamp_ms = r.u64("timestamp").map_err(LeafError::LeafInput)?;
    let raw_type = r.u16("entry_type").map_err(LeafError::LeafInput)?;
    let kind = entry_kind(raw_type).ok_or(LeafError::UnknownEntryType(raw_type))?;
    let signed_entry = read_signed_entry(&mut r, kind).map_err(LeafError::LeafInput)?;
    r.opaque16(0, "extensions").map_err(LeafError::LeafInput)?;
    r.finish("MerkleTreeLeaf").map_err(LeafError::LeafInput)?;
    Ok(ParsedLeafInput {
        timestamp_ms,
        kind,
        signed_entry,
    })
}

/// Decodes `extra_data` for an entry of `kind`: `(pre_certificate, chain)`, where the
/// pre_certificate is `None` for x509 entries.
fn parse_extra_data(
    extra_data: &Bytes,
    kind: EntryKind,
) -> Result<(Option<Bytes>, Vec<Bytes>), TlsError> {
    let mut r = TlsReader::new(extra_data);
    let out = match kind {
        EntryKind::X509 => (None, read_chain(extra_data, &mut r, "certificate_chain")?),
        EntryKind::Precert => {
            let pre = r.opaque24(1, "pre_certificate")?;
            let chain = read_chain(extra_data, &mut r, "precertificate_chain")?;
            (Some(extra_data.slice_ref(pre)), chain)
        }
    };
    r.finish(match kind {
        EntryKind::X509 => "X509ChainEntry",
        EntryKind::Precert => "PrecertChainEntry",
    })?;
    Ok(out)
}

/// Decodes one RFC 6962 get-entries entry (both fields already base64-decoded).
///
/// Takes `&Bytes` rather than `&[u8]` so that `leaf_der` and the chain are zero-copy slices of
/// the decoded buffers. For x509 entries `leaf_der` is the certificate in `leaf_input`; for
/// precert entries it is `extra_data.pre_certificate` (the signed precertificate, poison
/// extension included), never the TBS from `leaf_input`.
pub fn decode_rfc6962_entry(
    index: u64,
    leaf_input: &Bytes,
    extra_data: &Bytes,
) -> Result<LogEntry, LeafError> {
    let leaf = parse_leaf_input(leaf_input)?;
    let (pre_certificate, chain) =
        parse_extra_data(extra_data, leaf.kind).map_err(LeafError::ExtraData)?;
    let leaf_der = match pre_certificate {
        Some(pre) => pre,
        None => leaf_input.slice_ref(leaf.signed_entry.der),
    };
    Ok(LogEntry {
        index,
        timestamp_ms: leaf.timestamp_ms,
        kind: leaf.kind,
        leaf_der,
        chain,
    })
}

/// The Merkle leaf hash of a `leaf_input` (RFC 6962 §2.1): `SHA-256(0x00 || leaf_input)`.
pub fn leaf_hash(leaf_input: &[u8]) -> [u8; 32] {
    sha256(&[&[0u8], leaf_input])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a `len`-prefixed vector with a `width`-byte prefix.
    fn vec_with_prefix(width: usize, body: &[u8]) -> Vec<u8> {
        let len = (body.len() as u64).to_be_bytes();
        let mut out = len[8 - width..].to_vec();
        out.extend_from_slice(body);
        out
    }

    fn x509_leaf_input(cert: &[u8], extensions: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0];
        v.extend_from_slice(&1_700_000_000_000u64.to_be_bytes());
        v.extend_from_slice(&[0, 0]);
        v.extend(vec_with_prefix(3, cert));
        v.extend(vec_with_prefix(2, extensions));
        v
    }

    fn chain(certs: &[&[u8]]) -> Vec<u8> {
        let inner: Vec<u8> = certs.iter().flat_map(|c| vec_with_prefix(3, c)).collect();
        vec_with_prefix(3, &inner)
    }

    #[test]
    fn x509_entry_slices_without_copying() {
        let li = Bytes::from(x509_leaf_input(b"CERT", b""));
        let ed = Bytes::from(chain(&[b"ISSUER", b"ROOT"]));
        let e = decode_rfc6962_entry(42, &li, &ed).unwrap();
        assert_eq!(e.index, 42);
        assert_eq!(e.timestamp_ms, 1_700_000_000_000);
        assert_eq!(e.kind, EntryKind::X509);
        assert_eq!(&e.leaf_der[..], b"CERT");
        assert_eq!(
            e.leaf_der.as_ptr(),
            li[15..].as_ptr(),
            "leaf_der must point into leaf_input"
        );
        assert_eq!(
            e.chain,
            vec![Bytes::from_static(b"ISSUER"), Bytes::from_static(b"ROOT")]
        );
        assert_eq!(
            e.chain[0].as_ptr(),
            ed[6..].as_ptr(),
            "chain must point into extra_data"
        );
    }

    #[test]
    fn empty_chain_is_fine() {
        let li = Bytes::from(x509_leaf_input(b"CERT", b""));
        let e = decode_rfc6962_entry(0, &li, &Bytes::from(chain(&[]))).unwrap();
        assert!(e.chain.is_empty());
    }

    #[test]
    fn chain_is_capped_but_fully_validated() {
        let li = Bytes::from(x509_leaf_input(b"CERT", b""));
        let certs: Vec<&[u8]> = vec![b"C"; CHAIN_CERTS_MAX + 3];
        let e = decode_rfc6962_entry(0, &li, &Bytes::from(chain(&certs))).unwrap();
        assert_eq!(e.chain.len(), CHAIN_CERTS_MAX);
        let mut bad = chain(&certs);
        let n = bad.len();
        bad[n - 2] = 2; // the last element now claims 2 bytes but only 1 is left
        assert!(decode_rfc6962_entry(0, &li, &Bytes::from(bad)).is_err());
    }

    #[test]
    fn strict_lengths() {
        let good_li = x509_leaf_input(b"CERT", b"");
        let good_ed = chain(&[b"ISSUER"]);
        // Trailing byte after the MerkleTreeLeaf.
        let mut li = good_li.clone();
        li.push(0);
        let err = decode_rfc6962_entry(0, &Bytes::from(li), &Bytes::from(good_ed.clone()));
        assert!(matches!(
            err,
            Err(LeafError::LeafInput(TlsError::TrailingBytes {
                count: 1,
                ..
            }))
        ));
        // Trailing byte after the chain.
        let mut ed = good_ed.clone();
        ed.push(0);
        let err = decode_rfc6962_entry(0, &Bytes::from(good_li.clone()), &Bytes::from(ed));
        assert!(matches!(
            err,
            Err(LeafError::ExtraData(TlsError::TrailingBytes {
                count: 1,
                ..
            }))
        ));
        // total_len one larger than the elements: the inner list runs out mid-element.
        let mut ed = good_ed.clone();
        ed[2] += 1;
        ed.push(0);
        let err = decode_rfc6962_entry(0, &Bytes::from(good_li.clone()), &Bytes::from(ed));
        assert!(matches!(
            err,
            Err(LeafError::ExtraData(TlsError::Truncated { .. }))
        ));
        // Zero-length certificate.
        let li = x509_leaf_input(b"", b"");
        let err = decode_rfc6962_entry(0, &Bytes::from(li), &Bytes::from(good_ed));
        assert!(matches!(
            err,
            Err(LeafError::LeafInput(TlsError::TooShort { .. }))
        ));
    }

    #[test]
    fn unknown_types_are_distinct() {
        let ed = Bytes::from(chain(&[]));
        let mut li = x509_leaf_input(b"CERT", b"");
        li[0] = 1;
        let e = decode_rfc6962_entry(0, &Bytes::from(li.clone()), &ed).unwrap_err();
        assert_eq!(e, LeafError::UnknownVersion(1));
        assert!(e.is_unknown_type());
        li[0] = 0;
        li[1] = 7;
        assert_eq!(
            decode_rfc6962_entry(0, &Bytes::from(li.clone()), &ed).unwrap_err(),
            LeafError::UnknownLeafType(7)
        );
        li[1] = 0;
        li[11] = 2;
        let e = decode_rfc6962_entry(0, &Bytes::from(li), &ed).unwrap_err();
        assert_eq!(e, LeafError::UnknownEntryType(2));
        assert!(e.is_unknown_type());
        assert!(!LeafError::LeafInput(TlsError::TrailingBytes {
            field: "x",
            count: 1
        })
        .is_unknown_type());
    }

    #[test]
    fn display_names_the_field() {
        let li = Bytes::from_static(&[0, 0, 1, 2]);
        let e = decode_rfc6962_entry(0, &li, &Bytes::new()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "leaf_input: timestamp: truncated, needs 8 bytes but 2 are left"
        );
    }
}

/// Property-style robustness: every decoder of the `ct` module is fed random truncations, bit
/// flips and byte overwrites of real inputs and must return (Ok or Err), never panic. The RNG
/// is a fixed-seed xorshift so failures reproduce; set `CT_FUZZ_SEED` to explore other seeds.
#[cfg(test)]
mod robustness_tests {
    use std::panic::{catch_unwind, AssertUnwindSafe};

    use base64::Engine as _;
    use bytes::Bytes;

    use super::decode_rfc6962_entry;
    use crate::ct::{log_list, rfc6962, sig, static_ct};

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// One random mutation of `input`: a truncation, 1–8 bit flips, or a byte set to 00/FF
    /// (which turns length prefixes into zero or huge values).
    fn mutate(rng: &mut XorShift, input: &[u8]) -> (Vec<u8>, String) {
        let mut out = input.to_vec();
        match rng.below(3) {
            0 => {
                let cut = rng.below(input.len() + 1);
                out.truncate(cut);
                (out, format!("truncate to {cut}"))
            }
            1 if !out.is_empty() => {
                let flips = 1 + rng.below(8);
                let mut what = String::from("flip bits");
                for _ in 0..flips {
                    let bit = rng.below(out.len() * 8);
                    out[bit / 8] ^= 1 << (bit % 8);
                    what.push_str(&format!(" {bit}"));
                }
                (out, what)
            }
            _ if !out.is_empty() => {
                let at = rng.below(out.len());
                let value = if rng.below(2) == 0 { 0x00 } else { 0xff };
                out[at] = value;
                (out, format!("set byte {at} to {value:#04x}"))
            }
            _ => (out, "unchanged (empty)".to_string()),
        }
    }

    fn fixture(rel: &str) -> Vec<u8> {
        crate::ct::ctdata(rel)
    }

    fn seed() -> u64 {
        std::env::var("CT_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x5eed_c7c7_2026)
    }

    /// Runs `decode` on `rounds` mutations of `input`, failing with a reproducible description
    /// if it panics.
    fn hammer(name: &str, input: &[u8], rounds: usize, decode: impl Fn(&[u8])) {
        let seed = seed();
        let mut rng = XorShift(seed ^ (input.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        for round in 0..rounds {
            let (mutated, what) = mutate(&mut rng, input);
            if catch_unwind(AssertUnwindSafe(|| decode(&mutated))).is_err() {
                panic!("{name}: panic on round {round} ({what}), CT_FUZZ_SEED={seed}");
            }
        }
    }

    const GET_ENTRIES: [&str; 8] = [
        "rfc6962/argon2020_get-entries_10000-10000.json",
        "rfc6962/geotrust-test_precert_get-entries.json",
        "rfc6962/navigli2025h2_get-entries_0-15.json",
        "rfc6962/navigli2025h2_get-entries_168-168.json",
        "rfc6962/navigli2025h2_get-entries_281-281.json",
        "rfc6962/navigli2025h2_get-entries_543-543.json",
        "rfc6962/navigli2025h2_get-entries_747-747.json",
        "rfc6962/pilot_get-entries_0-3.json",
    ];

    /// `(leaf_input, extra_data)` of every entry in the shared get-entries bodies.
    fn raw_entries() -> Vec<(Vec<u8>, Vec<u8>)> {
        use sonic_rs::{JsonContainerTrait as _, JsonValueTrait as _};
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.decode(s).unwrap();
        let mut out = Vec::new();
        for file in GET_ENTRIES {
            let v: sonic_rs::Value = sonic_rs::from_slice(&fixture(file)).unwrap();
            for e in v.get("entries").unwrap().as_array().unwrap().iter() {
                let li = b64(e.get("leaf_input").unwrap().as_str().unwrap());
                let ed = b64(e.get("extra_data").unwrap().as_str().unwrap());
                out.push((li, ed));
            }
        }
        out
    }

    #[test]
    fn get_entries_bodies_never_panic() {
        for file in GET_ENTRIES {
            hammer(file, &fixture(file), 300, |b| {
                if let Ok(page) = rfc6962::parse_get_entries(b, 0, 16) {
                    assert!(!page.is_empty() && page.len() <= 16);
                }
            });
        }
    }

    #[test]
    fn leaf_input_and_extra_data_never_panic() {
        for (k, (li, ed)) in raw_entries().into_iter().enumerate() {
            let ed_bytes = Bytes::from(ed.clone());
            hammer(&format!("leaf_input #{k}"), &li, 150, |m| {
                let _ = decode_rfc6962_entry(1, &Bytes::copy_from_slice(m), &ed_bytes);
            });
            let li_bytes = Bytes::from(li);
            hammer(&format!("extra_data #{k}"), &ed, 150, |m| {
                if let Ok(e) = decode_rfc6962_entry(1, &li_bytes, &Bytes::copy_from_slice(m)) {
                    assert!(!e.leaf_der.is_empty());
                }
            });
        }
    }

    #[test]
    fn sth_and_signatures_never_panic() {
        let body = fixture("rfc6962/argon2020_get-sth.json");
        let key = sig::LogKey::from_base64(sig::test_keys::ARGON2020).unwrap();
        hammer("get-sth", &body, 500, |b| {
            if let Ok(sth) = rfc6962::parse_sth(b) {
                let _ = rfc6962::verify_sth(&sth, &key);
            }
        });
        let sth = rfc6962::parse_sth(&body).unwrap();
        let signed = sig::tree_head_signed_data(sth.timestamp_ms, sth.tree_size, &sth.root_hash);
        hammer("DigitallySigned", &sth.signature, 500, |m| {
            // A changed signature must never verify (a full-length "truncation" or two flips
            // of the same bit leave it unchanged).
            let res = sig::verify_digitally_signed(&key, &signed, m);
            assert_eq!(res.is_ok(), m == sth.signature.as_slice());
        });
        hammer("SPKI", key.spki_der(), 500, |m| {
            let _ = sig::LogKey::from_spki_der(m);
        });
    }

    #[test]
    fn checkpoints_never_panic() {
        use sonic_rs::JsonValueTrait as _;
        let json = fixture("static-ct/skylight-test-rome2026h1/log.v3.json");
        let v: sonic_rs::Value = sonic_rs::from_slice(&json).unwrap();
        let key = sig::LogKey::from_base64(v.get("key").unwrap().as_str().unwrap()).unwrap();
        for file in ["checkpoint", "checkpoint.witness-cosigned"] {
            let text = fixture(&format!("static-ct/skylight-test-rome2026h1/{file}"));
            hammer(file, &text, 500, |m| {
                let _ = static_ct::parse_checkpoint(m, "rome2026h1.example.org", &key);
            });
        }
    }

    #[test]
    fn data_tiles_never_panic() {
        let tile = fixture("static-ct/navigli2025h2/tile/data/001");
        hammer("data tile 001", &tile, 300, |m| {
            let m = Bytes::copy_from_slice(m);
            if let Ok(leaves) = static_ct::parse_data_tile(&m, 1, 256) {
                assert_eq!(leaves.len(), 256);
                assert!(leaves
                    .iter()
                    .enumerate()
                    .all(|(k, l)| l.index == 256 + k as u64));
            }
            let _ = static_ct::parse_data_tile_prefix(&m, 1, 100);
        });
    }

    #[test]
    fn log_lists_never_panic() {
        for file in [
            "loglists/ctgo_testdata_loglist3.json",
            "loglists/google_log_list_v3_81.14_2026-01-20.json",
        ] {
            hammer(file, &fixture(file), 120, |b| {
                if let Ok(list) = log_list::parse_log_list(b) {
                    assert!(!list.logs.is_empty());
                }
            });
        }
    }
}
