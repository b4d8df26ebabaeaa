//! Wire encodings of one entry (RFC 6962 §3.4/§4.6, static-ct-api "Log entries") and the
//! tile path syntax (tlog-tiles). Everything here is pure and byte-exact; the layouts are
//! checked against the real fixtures in the tests.

use super::merkle::Hash;

/// What a log entry contains, independent of the log type it is published in.
pub struct EntryBytes<'a> {
    pub timestamp_ms: u64,
    pub body: EntryBody<'a>,
    /// Issuer chain, issuer first.
    pub chain: &'a [std::sync::Arc<[u8]>],
    pub chain_fingerprints: &'a [Hash],
}

pub enum EntryBody<'a> {
    X509 {
        cert: &'a [u8],
    },
    Precert {
        issuer_key_hash: &'a Hash,
        tbs: &'a [u8],
        pre_certificate: &'a [u8],
    },
}

fn push_u24(out: &mut Vec<u8>, len: usize) {
    debug_assert!(len < 1 << 24);
    out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
}

fn push_u16(out: &mut Vec<u8>, len: usize) {
    debug_assert!(len < 1 << 16);
    out.extend_from_slice(&(len as u16).to_be_bytes());
}

/// `TimestampedEntry` up to and including `extensions` (RFC 6962 §3.4).
fn push_timestamped_entry(out: &mut Vec<u8>, e: &EntryBytes<'_>, extensions: &[u8]) {
    out.extend_from_slice(&e.timestamp_ms.to_be_bytes());
    match &e.body {
        EntryBody::X509 { cert } => {
            out.extend_from_slice(&[0, 0]);
            push_u24(out, cert.len());
            out.extend_from_slice(cert);
        }
        EntryBody::Precert {
            issuer_key_hash,
            tbs,
            ..
        } => {
            out.extend_from_slice(&[0, 1]);
            out.extend_from_slice(&issuer_key_hash[..]);
            push_u24(out, tbs.len());
            out.extend_from_slice(tbs);
        }
    }
    push_u16(out, extensions.len());
    out.extend_from_slice(extensions);
}

/// Static-ct-api `leaf_index` extension: type 0, length 5, uint40 index.
pub fn leaf_index_extension(index: u64) -> [u8; 8] {
    let mut ext = [0u8, 0, 5, 0, 0, 0, 0, 0];
    ext[3..].copy_from_slice(&index.to_be_bytes()[3..]);
    ext
}

/// `MerkleTreeLeaf` = version v1 (0) || timestamped_entry (0) || TimestampedEntry.
pub fn merkle_tree_leaf(e: &EntryBytes<'_>, extensions: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2048);
    out.extend_from_slice(&[0, 0]);
    push_timestamped_entry(&mut out, e, extensions);
    out
}

/// RFC 6962 §4.6 `extra_data`: `certificate_chain` for x509, `PrecertChainEntry` for precerts.
pub fn extra_data(e: &EntryBytes<'_>) -> Vec<u8> {
    let chain_len: usize = e.chain.iter().map(|c| c.len() + 3).sum();
    let mut out = Vec::with_capacity(chain_len + 3 + 2048);
    if let EntryBody::Precert {
        pre_certificate, ..
    } = &e.body
    {
        push_u24(&mut out, pre_certificate.len());
        out.extend_from_slice(pre_certificate);
    }
    push_u24(&mut out, chain_len);
    for cert in e.chain {
        push_u24(&mut out, cert.len());
        out.extend_from_slice(cert);
    }
    out
}

/// Static-ct-api `TileLeaf`, appended to `out`. Returns the length of the Merkle-leaf prefix
/// (`TimestampedEntry` incl. extensions) so the caller can hash `00 00 || prefix`.
pub fn push_tile_leaf(out: &mut Vec<u8>, e: &EntryBytes<'_>, index: u64) -> std::ops::Range<usize> {
    let start = out.len();
    push_timestamped_entry(out, e, &leaf_index_extension(index));
    let merkle_end = out.len();
    if let EntryBody::Precert {
        pre_certificate, ..
    } = &e.body
    {
        push_u24(out, pre_certificate.len());
        out.extend_from_slice(pre_certificate);
    }
    push_u16(out, e.chain_fingerprints.len() * 32);
    for fp in e.chain_fingerprints {
        out.extend_from_slice(fp);
    }
    start..merkle_end
}

/// Merkle leaf bytes of a static-ct entry: `00 00 || TimestampedEntry` (with leaf_index ext).
pub fn static_merkle_leaf(e: &EntryBytes<'_>, index: u64) -> Vec<u8> {
    merkle_tree_leaf(e, &leaf_index_extension(index))
}

/// tlog-tiles index path: 3-digit groups, all but the last prefixed with `x`.
pub fn tile_index_path(n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    let mut rest = n / 1000;
    while rest > 0 {
        groups.push(format!("x{:03}", rest % 1000));
        rest /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

/// Parses `<index path>[.p/<W>]`, accepting only the canonical encoding. Returns (N, width)
/// with width `None` for a full tile.
pub fn parse_tile_path(path: &str) -> Option<(u64, Option<u16>)> {
    let (index_part, width) = match path.rsplit_once(".p/") {
        Some((idx, w)) => {
            let w: u16 = parse_decimal(w)?.try_into().ok()?;
            if !(1..=255).contains(&w) || w.to_string().len() != path.len() - idx.len() - 3 {
                return None;
            }
            (idx, Some(w))
        }
        None => (path, None),
    };
    let mut n: u64 = 0;
    let groups: Vec<&str> = index_part.split('/').collect();
    for (i, group) in groups.iter().enumerate() {
        let digits = if i + 1 < groups.len() {
            group.strip_prefix('x')?
        } else {
            group
        };
        if digits.len() != 3 {
            return None;
        }
        n = n.checked_mul(1000)?.checked_add(parse_decimal(digits)?)?;
    }
    (tile_index_path(n) == index_part).then_some((n, width))
}

/// Strict decimal (no sign, no spaces, at least one digit).
pub fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_paths_follow_certspotter_vectors() {
        assert_eq!(tile_index_path(0), "000");
        assert_eq!(tile_index_path(999), "999");
        assert_eq!(tile_index_path(1000), "x001/000");
        assert_eq!(tile_index_path(1_234_067), "x001/x234/067");
        assert_eq!(parse_tile_path("x001/x234/067"), Some((1_234_067, None)));
        assert_eq!(parse_tile_path("002.p/17"), Some((2, Some(17))));
        assert_eq!(parse_tile_path("x000/002"), None, "non-canonical");
        assert_eq!(parse_tile_path("002.p/0"), None);
        assert_eq!(parse_tile_path("002.p/256"), None);
        assert_eq!(parse_tile_path("002.p/017"), None);
        assert_eq!(parse_tile_path("2"), None);
    }

    #[test]
    fn leaf_index_extension_is_uint40() {
        assert_eq!(leaf_index_extension(0), [0, 0, 5, 0, 0, 0, 0, 0]);
        assert_eq!(
            leaf_index_extension(0x01_0203_0405),
            [0, 0, 5, 1, 2, 3, 4, 5]
        );
    }
}
