//! Real CT data from `loadtest/fixtures/ctdata` used by the simulator: real certificates for
//! `real_share`, RSA public keys for RSA leaves, and the replay logs' entries and tiles.
//!
//! # Replay order (fixed, documented)
//! The RFC 6962 replay log serves the entries of [`RFC_REPLAY_FILES`] concatenated in that
//! order (26 entries): pilot 0–3 → indices 0–3, argon2020 #10000 → 4, geotrust precert → 5,
//! navigli 0–15 → 6–21, navigli 168, 281, 543, 747 → 22–25. The `leaf_input`/`extra_data`
//! strings are served exactly as stored in the files.
//! The static replay log serves navigli2025h2 `tile/data/000..002` (768 leaves), its level-0
//! tiles and its five issuers byte-identical.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use base64::{engine::general_purpose::STANDARD, Engine};

use super::{
    certgen::Chain,
    der,
    merkle::{leaf_hash, sha256, Hash},
};

/// Real get-entries bodies replayed, in this order.
pub const RFC_REPLAY_FILES: &[&str] = &[
    "pilot_get-entries_0-3.json",
    "argon2020_get-entries_10000-10000.json",
    "geotrust-test_precert_get-entries.json",
    "navigli2025h2_get-entries_0-15.json",
    "navigli2025h2_get-entries_168-168.json",
    "navigli2025h2_get-entries_281-281.json",
    "navigli2025h2_get-entries_543-543.json",
    "navigli2025h2_get-entries_747-747.json",
];

/// Real certificates used as x509 leaves for `real_share`: every fixture leaf that strict
/// parsers accept and that is neither a precertificate nor in the "malformed" category of
/// SOURCES.md. Later certificates in a PEM bundle become the entry's chain.
pub const REAL_LEAF_FILES: &[&str] = &[
    "azul_cloudflare.pem",
    "azul_leaf-cert.pem",
    "azul_p521-ecdsa-leaf-cert.pem",
    "easyssl_device-cert.der",
    "easyssl_emb.der",
    "easyssl_github.com.crt",
    "easyssl_nodejitsu.com.der",
    "easyssl_travis-ci.org.der",
    "easyssl_twitter.com.der",
    "easyssl_wikipedia.org.der",
    "gct_dsa_with_sha256.der",
    "gct_google_chain.pem",
    "gct_multiple_cn.pem",
    "gct_v1_cert.pem",
    "gct_youtube.pem",
    "pyca_all_supported_names.pem",
    "pyca_server-ed25519-cert.pem",
    "pyca_tls-feature-ocsp-staple.pem",
    "pyca_utf8_common_name.pem",
    "pyca_wosign-bc-invalid.pem",
    "zlint_RFC5280example2.pem",
    "zlint_dnsNamesNFC.pem",
    "zlint_dupl_subj_attrs_ko_02.pem",
    "zlint_idnCorrectUnicode.pem",
    "zlint_subjectOUWrongEncoding.pem",
];

/// Fixture leaves with RSA-2048 keys whose SPKIs are reused for generated RSA leaves.
const RSA_KEY_FILES: &[&str] = &[
    "easyssl_twitter.com.der",
    "easyssl_wikipedia.org.der",
    "easyssl_travis-ci.org.der",
    "zlint_dnsNamesNFC.pem",
];

/// Navigli static replay: three full data tiles.
pub const STATIC_REPLAY_TILES: u64 = 3;

#[derive(Debug)]
pub enum FixtureError {
    Io(PathBuf, std::io::Error),
    Format(PathBuf, &'static str),
}

impl std::fmt::Display for FixtureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FixtureError::Io(p, e) => write!(f, "fixture {}: {e}", p.display()),
            FixtureError::Format(p, what) => write!(f, "fixture {}: {what}", p.display()),
        }
    }
}

impl std::error::Error for FixtureError {}

impl From<FixtureError> for std::io::Error {
    fn from(e: FixtureError) -> Self {
        std::io::Error::other(e)
    }
}

/// Default fixture location, compiled in so the binary works from any directory.
pub fn default_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/ctdata")
}

fn read(path: &Path) -> Result<Vec<u8>, FixtureError> {
    std::fs::read(path).map_err(|e| FixtureError::Io(path.to_path_buf(), e))
}

/// All certificates of a PEM or DER file, in file order.
fn read_certs(path: &Path) -> Result<Vec<Vec<u8>>, FixtureError> {
    let bytes = read(path)?;
    if bytes.starts_with(b"-----") || bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        let certs = der::pem_certs(&String::from_utf8_lossy(&bytes));
        if certs.is_empty() {
            return Err(FixtureError::Format(
                path.to_path_buf(),
                "no PEM certificate",
            ));
        }
        return Ok(certs);
    }
    Ok(vec![bytes])
}

/// A real certificate published as an x509 entry.
pub struct RealCert {
    pub file: &'static str,
    pub der: Arc<[u8]>,
    /// Index into the generator's chain table.
    pub chain: usize,
}

/// Loads [`REAL_LEAF_FILES`]; each bundle's remaining certificates become a new chain appended
/// to `chains`.
pub fn real_certs(dir: &Path, chains: &mut Vec<Chain>) -> Result<Vec<RealCert>, FixtureError> {
    let mut out = Vec::with_capacity(REAL_LEAF_FILES.len());
    for file in REAL_LEAF_FILES {
        let path = dir.join("certs").join(file);
        let mut certs = read_certs(&path)?.into_iter();
        let Some(leaf) = certs.next() else {
            return Err(FixtureError::Format(path, "empty"));
        };
        let chain_certs: Vec<Arc<[u8]>> = certs.map(Arc::from).collect();
        let issuer_spki = chain_certs
            .first()
            .and_then(|c| der::cert_fields(c).map(|f| f.spki.to_vec()))
            .unwrap_or_default();
        chains.push(Chain::new(chain_certs, None, &issuer_spki));
        out.push(RealCert {
            file,
            der: leaf.into(),
            chain: chains.len() - 1,
        });
    }
    Ok(out)
}

/// SPKIs of real RSA-2048 leaves.
pub fn rsa_spkis(dir: &Path) -> Result<Vec<Vec<u8>>, FixtureError> {
    RSA_KEY_FILES
        .iter()
        .map(|file| {
            let path = dir.join("certs").join(file);
            let certs = read_certs(&path)?;
            der::cert_fields(&certs[0])
                .map(|f| f.spki.to_vec())
                .ok_or(FixtureError::Format(path, "cannot find SPKI"))
        })
        .collect()
}

/// Summary of a replayed entry (for `entry_fingerprint`/`entry_kind`).
#[derive(Clone, Debug)]
pub struct ReplayInfo {
    pub precert: bool,
    /// SHA-256 of the published leaf DER (cert, or pre_certificate for precerts).
    pub fingerprint: Hash,
    pub leaf_hash: Hash,
}

/// One RFC 6962 replay entry: the original base64 strings plus derived facts.
pub struct RfcReplayEntry {
    pub leaf_input: String,
    pub extra_data: String,
    pub info: ReplayInfo,
}

pub fn rfc_replay(dir: &Path) -> Result<Vec<RfcReplayEntry>, FixtureError> {
    let mut out = Vec::new();
    for file in RFC_REPLAY_FILES {
        let path = dir.join("rfc6962").join(file);
        let value: serde_json::Value = serde_json::from_slice(&read(&path)?)
            .map_err(|_| FixtureError::Format(path.clone(), "not JSON"))?;
        let entries = value["entries"]
            .as_array()
            .ok_or_else(|| FixtureError::Format(path.clone(), "no entries"))?;
        for entry in entries {
            let (Some(li), Some(ed)) = (entry["leaf_input"].as_str(), entry["extra_data"].as_str())
            else {
                return Err(FixtureError::Format(path, "entry without strings"));
            };
            let info =
                rfc_entry_info(li, ed).ok_or(FixtureError::Format(path.clone(), "bad entry"))?;
            out.push(RfcReplayEntry {
                leaf_input: li.to_owned(),
                extra_data: ed.to_owned(),
                info,
            });
        }
    }
    Ok(out)
}

fn u24(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at + 3)?;
    Some((s[0] as usize) << 16 | (s[1] as usize) << 8 | s[2] as usize)
}

fn u16_at(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at + 2)?;
    Some((s[0] as usize) << 8 | s[1] as usize)
}

fn rfc_entry_info(leaf_input: &str, extra_data: &str) -> Option<ReplayInfo> {
    let leaf = STANDARD.decode(leaf_input).ok()?;
    let extra = STANDARD.decode(extra_data).ok()?;
    let precert = match leaf.get(10..12)? {
        [0, 0] => false,
        [0, 1] => true,
        _ => return None,
    };
    let published = if precert {
        extra.get(3..3 + u24(&extra, 0)?)?
    } else {
        leaf.get(15..15 + u24(&leaf, 12)?)?
    };
    Some(ReplayInfo {
        precert,
        fingerprint: sha256(published),
        leaf_hash: leaf_hash(&leaf),
    })
}

/// The navigli static replay log.
pub struct StaticReplay {
    /// Raw (uncompressed) data tiles 000..002.
    pub data_tiles: Vec<Arc<[u8]>>,
    /// Level-0 hash tiles 000..002.
    pub level0_tiles: Vec<Arc<[u8]>>,
    pub issuers: Vec<(Hash, Arc<[u8]>)>,
    pub leaves: Vec<ReplayInfo>,
}

pub fn static_replay(dir: &Path) -> Result<StaticReplay, FixtureError> {
    let base = dir.join("static-ct/navigli2025h2");
    let mut data_tiles = Vec::new();
    let mut level0_tiles = Vec::new();
    let mut leaves = Vec::new();
    for n in 0..STATIC_REPLAY_TILES {
        let path = base.join(format!("tile/data/{n:03}"));
        let tile = read(&path)?;
        let parsed = parse_tile(&tile).ok_or(FixtureError::Format(path, "bad data tile"))?;
        leaves.extend(parsed);
        data_tiles.push(Arc::from(tile));
        level0_tiles.push(Arc::from(read(&base.join(format!("tile/0/{n:03}")))?));
    }
    let mut issuers = Vec::new();
    let issuer_dir = base.join("issuer");
    let listing =
        std::fs::read_dir(&issuer_dir).map_err(|e| FixtureError::Io(issuer_dir.clone(), e))?;
    for item in listing {
        let item = item.map_err(|e| FixtureError::Io(issuer_dir.clone(), e))?;
        let der = read(&item.path())?;
        issuers.push((sha256(&der), Arc::from(der)));
    }
    issuers.sort_by_key(|i| i.0);
    Ok(StaticReplay {
        data_tiles,
        level0_tiles,
        issuers,
        leaves,
    })
}

/// Splits a data tile into TileLeaf summaries; `None` on any malformation.
pub fn parse_tile(mut tile: &[u8]) -> Option<Vec<ReplayInfo>> {
    let mut out = Vec::with_capacity(256);
    while !tile.is_empty() {
        let (info, _, used) = parse_tile_leaf(tile)?;
        out.push(info);
        tile = &tile[used..];
    }
    Some(out)
}

/// Where each TileLeaf of a data tile ends: `(end of its TimestampedEntry extensions, end of
/// the leaf)`, as offsets into `tile`; `None` on any malformation.
pub fn tile_leaf_bounds(tile: &[u8]) -> Option<Vec<(usize, usize)>> {
    let mut out = Vec::with_capacity(256);
    let mut at = 0;
    while at < tile.len() {
        let (_, extensions_end, used) = parse_tile_leaf(&tile[at..])?;
        out.push((at + extensions_end, at + used));
        at += used;
    }
    Some(out)
}

fn parse_tile_leaf(b: &[u8]) -> Option<(ReplayInfo, usize, usize)> {
    let precert = match b.get(8..10)? {
        [0, 0] => false,
        [0, 1] => true,
        _ => return None,
    };
    let mut at = 10;
    let mut x509 = None;
    if precert {
        at += 32;
        at += 3 + u24(b, at)?;
    } else {
        let len = u24(b, at)?;
        x509 = Some(b.get(at + 3..at + 3 + len)?);
        at += 3 + len;
    }
    at += 2 + u16_at(b, at)?;
    let merkle_end = at;
    let published = match x509 {
        Some(cert) => cert,
        None => {
            let len = u24(b, at)?;
            let pre = b.get(at + 3..at + 3 + len)?;
            at += 3 + len;
            pre
        }
    };
    at += 2 + u16_at(b, at)?;
    if at > b.len() {
        return None;
    }
    let mut merkle_leaf = Vec::with_capacity(merkle_end + 2);
    merkle_leaf.extend_from_slice(&[0, 0]);
    merkle_leaf.extend_from_slice(b.get(..merkle_end)?);
    Some((
        ReplayInfo {
            precert,
            fingerprint: sha256(published),
            leaf_hash: leaf_hash(&merkle_leaf),
        },
        merkle_end,
        at,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_replay_leaf_hashes_match_the_real_level0_tiles() {
        let replay = static_replay(&default_dir()).unwrap();
        assert_eq!(replay.leaves.len(), 768);
        assert_eq!(replay.issuers.len(), 5);
        for (i, leaf) in replay.leaves.iter().enumerate() {
            let tile = &replay.level0_tiles[i / 256];
            assert_eq!(
                &tile[(i % 256) * 32..(i % 256 + 1) * 32],
                &leaf.leaf_hash[..],
                "leaf {i}"
            );
        }
    }

    #[test]
    fn rfc_replay_has_documented_count_and_known_leaf_hash() {
        let entries = rfc_replay(&default_dir()).unwrap();
        assert_eq!(entries.len(), 4 + 1 + 1 + 16 + 4);
        // SOURCES.md: Argon2020 #10000 leaf hash.
        let argon = STANDARD
            .decode("nCs3mfIydh9x4CKyQ+u2xtmpxmFggA5MLymHwNQSlLg=")
            .unwrap();
        assert_eq!(&entries[4].info.leaf_hash[..], &argon[..]);
        assert!(entries[5].info.precert && !entries[4].info.precert);
    }

    #[test]
    fn real_certs_load_with_chains() {
        let mut chains = Vec::new();
        let real = real_certs(&default_dir(), &mut chains).unwrap();
        assert_eq!(real.len(), REAL_LEAF_FILES.len());
        let google = real
            .iter()
            .find(|r| r.file == "gct_google_chain.pem")
            .unwrap();
        assert_eq!(chains[google.chain].certs.len(), 2);
        assert_eq!(
            rsa_spkis(&default_dir()).unwrap().len(),
            RSA_KEY_FILES.len()
        );
    }
}
