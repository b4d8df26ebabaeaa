//! The Static CT API (c2sp.org/static-ct-api) read side: checkpoints, tile URLs and data tiles.
//!
//! # Checkpoint (`<monitoring>/checkpoint`, a signed note)
//!
//! ```text
//! <origin>\n<tree size>\n<base64 root hash>\n[extension lines\n]
//! \n
//! — <key name> <base64(4-byte key ID || signature)>\n      (one line per signature)
//! ```
//!
//! The log's own signature has key name = origin, key ID =
//! `SHA-256(origin || 0x0A || 0x05 || log_id)[:4]` and body `u64 timestamp || DigitallySigned`
//! over the RFC 6962 `TreeHeadSignature`, so the STH timestamp lives only inside it. Any other
//! signature line (witness cosignatures, the log's own Ed25519 note key) is ignored.
//!
//! # Data tiles (`<monitoring>/tile/data/<N>[.p/<W>]`)
//!
//! A concatenation of `TileLeaf`s, leaves `256N .. 256N+W-1`:
//!
//! ```text
//! TimestampedEntry (u64 timestamp | u16 entry_type | signed_entry | extensions<0..2^16-1>)
//! precert_entry only: pre_certificate<1..2^24-1>
//! certificate_chain<0..2^16-1> = N × 32-byte SHA-256 fingerprints of the issuers
//! ```
//!
//! # Invariants worth naming
//!
//! - A checkpoint is only returned after the log's RFC6962NoteSignature verified over exactly
//!   the size and root it names; a present-but-invalid log signature is an error, not ignored.
//! - A tile is parsed into exactly `width` leaves, or fails as a whole: an entry of unknown type
//!   ends the parse because the layout of what follows depends on the type.
//! - When present, the `leaf_index` extension must equal the position; an empty extensions field
//!   (entries archived from RFC 6962 logs) falls back to the position.
//! - `leaf_der` and `timestamped_entry` are zero-copy slices of the tile buffer.

use std::fmt;

use base64::Engine as _;
use bytes::Bytes;

use super::{
    entry::{EntryKind, LogEntry},
    error::{DecodeFailure, DecodeKind},
    hash::sha256,
    leaf::{entry_kind, read_signed_entry},
    rfc6962::with_slash,
    sig::{tree_head_signed_data, verify_digitally_signed, LogKey, SigError},
    tls_codec::{TlsError, TlsReader},
};
use crate::limits::{CHAIN_CERTS_MAX, CHECKPOINT_BYTES_MAX, CHECKPOINT_SIGNATURES_MAX};

/// Leaves per full tile (tlog-tiles: tiles are 256 entries wide).
pub const TILE_WIDTH: usize = 256;

/// Signed-note signature type of an RFC6962NoteSignature (static-ct-api "Checkpoints").
const NOTE_SIG_TYPE_RFC6962: u8 = 0x05;
/// Every signature line starts with an em dash (U+2014) and a space.
const SIGNATURE_LINE_PREFIX: &str = "\u{2014} ";
/// `leaf_index` CtExtension type (static-ct-api "SCT Extension").
const EXTENSION_LEAF_INDEX: u8 = 0;
/// `leaf_index` is a uint40.
const LEAF_INDEX_LEN: usize = 5;

// ---- URLs --------------------------------------------------------------------------------------

/// The checkpoint origin of a log: its submission prefix without scheme and trailing slashes
/// (`https://log.sycamore.ct.letsencrypt.org/2026h1/` →
/// `log.sycamore.ct.letsencrypt.org/2026h1`).
pub fn origin_from_submission_url(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.trim_end_matches('/').to_string()
}

/// The tlog-tiles encoding of a tile index: 3-digit groups, all but the last prefixed `x`
/// (`1234067` → `x001/x234/067`).
pub fn tile_index_path(n: u64) -> String {
    let mut groups = Vec::with_capacity(7);
    let mut rest = n;
    loop {
        groups.push(rest % 1000);
        rest /= 1000;
        if rest == 0 {
            break;
        }
    }
    let last = groups.len() - 1;
    let mut out = String::with_capacity(groups.len() * 5);
    for (i, group) in groups.iter().rev().enumerate() {
        if i < last {
            out.push_str(&format!("x{group:03}/"));
        } else {
            out.push_str(&format!("{group:03}"));
        }
    }
    out
}

/// `<monitoring>tile/data/<N>` for a full tile (`width` 256), `<N>.p/<width>` for a partial.
pub fn data_tile_url(monitoring_url: &str, tile: u64, width: u16) -> String {
    debug_assert!(
        (1..=TILE_WIDTH as u16).contains(&width),
        "tile width {width}"
    );
    let base = with_slash(monitoring_url);
    let path = tile_index_path(tile);
    if usize::from(width) == TILE_WIDTH {
        format!("{base}tile/data/{path}")
    } else {
        format!("{base}tile/data/{path}.p/{width}")
    }
}

/// `<monitoring>issuer/<lowercase hex SHA-256 fingerprint>`.
pub fn issuer_url(monitoring_url: &str, fp: &[u8; 32]) -> String {
    let mut out = format!("{}issuer/", with_slash(monitoring_url));
    for b in fp {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

// ---- Checkpoints -------------------------------------------------------------------------------

/// A verified checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub tree_size: u64,
    pub root_hash: [u8; 32],
    /// From the log's RFC6962NoteSignature (the note text has no timestamp).
    pub timestamp_ms: u64,
}

/// Why a checkpoint was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointError {
    TooLarge {
        len: usize,
    },
    Empty,
    NotUtf8,
    /// A control character other than newline (signed-note forbids them).
    ControlCharacter,
    /// No blank line separating the note text from the signatures.
    MissingSignatureBlock,
    /// A blank line, but no signature lines after it.
    NoSignatures,
    /// The note text has fewer than three lines, or an empty line.
    MalformedText,
    OriginMismatch {
        expected: String,
        found: String,
    },
    /// Not a decimal u64 without leading zeros.
    BadTreeSize,
    /// Not standard base64 of 32 bytes.
    BadRootHash,
    /// Signature line `line` (1-based within the block) is not `— <name> <base64>`.
    MalformedSignatureLine {
        line: usize,
    },
    TooManySignatures,
    /// The log's own signature line is present but broken or does not verify.
    BadLogSignature(SigError),
    /// No signature line carries the log's key name and key ID.
    NoLogSignature,
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointError::TooLarge { len } => {
                write!(
                    f,
                    "checkpoint of {len} bytes exceeds {CHECKPOINT_BYTES_MAX}"
                )
            }
            CheckpointError::Empty => write!(f, "checkpoint is empty"),
            CheckpointError::NotUtf8 => write!(f, "checkpoint is not UTF-8"),
            CheckpointError::ControlCharacter => {
                write!(
                    f,
                    "checkpoint contains a control character other than newline"
                )
            }
            CheckpointError::MissingSignatureBlock => {
                write!(f, "checkpoint has no blank line before a signature block")
            }
            CheckpointError::NoSignatures => write!(f, "checkpoint has no signature lines"),
            CheckpointError::MalformedText => {
                write!(
                    f,
                    "checkpoint text is not origin, size, root hash (+ extension lines)"
                )
            }
            CheckpointError::OriginMismatch { expected, found } => {
                write!(
                    f,
                    "checkpoint origin {found:?} is not the log's origin {expected:?}"
                )
            }
            CheckpointError::BadTreeSize => write!(f, "checkpoint tree size is not a decimal u64"),
            CheckpointError::BadRootHash => {
                write!(f, "checkpoint root hash is not base64 of 32 bytes")
            }
            CheckpointError::MalformedSignatureLine { line } => {
                write!(f, "checkpoint signature line {line} is malformed")
            }
            CheckpointError::TooManySignatures => write!(
                f,
                "checkpoint has more than {CHECKPOINT_SIGNATURES_MAX} signature lines"
            ),
            CheckpointError::BadLogSignature(e) => {
                write!(f, "checkpoint's log signature is invalid: {e}")
            }
            CheckpointError::NoLogSignature => {
                write!(f, "checkpoint has no signature from the log's key")
            }
        }
    }
}

impl std::error::Error for CheckpointError {}

impl DecodeFailure for CheckpointError {
    fn kind(&self) -> DecodeKind {
        match self {
            CheckpointError::TooLarge { .. } | CheckpointError::TooManySignatures => {
                DecodeKind::TooLarge
            }
            CheckpointError::Empty
            | CheckpointError::NotUtf8
            | CheckpointError::ControlCharacter
            | CheckpointError::MissingSignatureBlock
            | CheckpointError::NoSignatures
            | CheckpointError::MalformedText
            | CheckpointError::BadTreeSize
            | CheckpointError::BadRootHash
            | CheckpointError::MalformedSignatureLine { .. } => DecodeKind::Malformed,
            CheckpointError::OriginMismatch { .. } => DecodeKind::Mismatch,
            CheckpointError::BadLogSignature(_) | CheckpointError::NoLogSignature => {
                DecodeKind::BadSignature
            }
        }
    }
}

/// The key ID of a log's RFC6962NoteSignature: `SHA-256(name || 0x0A || 0x05 || log_id)[:4]`.
fn rfc6962_note_key_id(origin: &str, log_id: &[u8; 32]) -> [u8; 4] {
    let h = sha256(&[origin.as_bytes(), &[b'\n', NOTE_SIG_TYPE_RFC6962], log_id]);
    [h[0], h[1], h[2], h[3]]
}

/// Splits a signed note into its text (with its final newline) and its signature block (each
/// line newline-terminated), checking the framing rules of signed-note.
fn split_note(text: &[u8]) -> Result<(&str, &str), CheckpointError> {
    if text.len() > CHECKPOINT_BYTES_MAX {
        return Err(CheckpointError::TooLarge { len: text.len() });
    }
    if text.is_empty() {
        return Err(CheckpointError::Empty);
    }
    let text = std::str::from_utf8(text).map_err(|_| CheckpointError::NotUtf8)?;
    if text.bytes().any(|b| b < 0x20 && b != b'\n') {
        return Err(CheckpointError::ControlCharacter);
    }
    let split = text
        .rfind("\n\n")
        .ok_or(CheckpointError::MissingSignatureBlock)?;
    let (body, sigs) = (&text[..split + 1], &text[split + 2..]);
    if sigs.is_empty() {
        return Err(CheckpointError::NoSignatures);
    }
    if !sigs.ends_with('\n') {
        // The last signature line lacks its newline.
        return Err(CheckpointError::MalformedSignatureLine {
            line: sigs.split('\n').count(),
        });
    }
    Ok((body, sigs))
}

/// The three mandatory lines of the note text; extension lines are allowed and ignored (they
/// are not covered by the RFC 6962 signature anyway).
fn parse_note_text(body: &str) -> Result<(&str, u64, [u8; 32]), CheckpointError> {
    let lines: Vec<&str> = body.trim_end_matches('\n').split('\n').collect();
    if lines.len() < 3 || lines.iter().any(|l| l.is_empty()) {
        return Err(CheckpointError::MalformedText);
    }
    let tree_size = parse_decimal(lines[1]).ok_or(CheckpointError::BadTreeSize)?;
    let root = base64::engine::general_purpose::STANDARD
        .decode(lines[2])
        .map_err(|_| CheckpointError::BadRootHash)?;
    let root_hash: [u8; 32] = root.try_into().map_err(|_| CheckpointError::BadRootHash)?;
    Ok((lines[0], tree_size, root_hash))
}

/// A decimal u64 with no sign, no leading zeros (except "0") and no overflow.
fn parse_decimal(s: &str) -> Option<u64> {
    let digits_only = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits_only || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

/// One signature line: `(key name, key ID, signature bytes after the ID)`.
fn parse_signature_line(line: &str) -> Option<(&str, [u8; 4], Vec<u8>)> {
    let rest = line.strip_prefix(SIGNATURE_LINE_PREFIX)?;
    let (name, b64) = rest.split_once(' ')?;
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    // signed-note: a key ID and at least one byte of signature.
    if raw.len() < 5 {
        return None;
    }
    let key_id = [raw[0], raw[1], raw[2], raw[3]];
    Some((name, key_id, raw[4..].to_vec()))
}

/// Verifies an RFC6962NoteSignature body (`u64 timestamp || DigitallySigned`) and returns the
/// timestamp.
fn verify_note_signature(
    body: &[u8],
    tree_size: u64,
    root_hash: &[u8; 32],
    key: &LogKey,
) -> Result<u64, SigError> {
    let mut r = TlsReader::new(body);
    let timestamp_ms = r.u64("RFC6962NoteSignature.timestamp")?;
    let signed = tree_head_signed_data(timestamp_ms, tree_size, root_hash);
    verify_digitally_signed(key, &signed, &body[r.offset()..])?;
    Ok(timestamp_ms)
}

/// Parses a checkpoint and verifies the log's signature on it.
///
/// `origin` is the log's origin ([`origin_from_submission_url`]); `key` is the log's key.
pub fn parse_checkpoint(
    text: &[u8],
    origin: &str,
    key: &LogKey,
) -> Result<Checkpoint, CheckpointError> {
    let (body, sigs) = split_note(text)?;
    let (found, tree_size, root_hash) = parse_note_text(body)?;
    if found != origin {
        return Err(CheckpointError::OriginMismatch {
            expected: origin.to_string(),
            found: found.to_string(),
        });
    }
    let log_key_id = rfc6962_note_key_id(origin, &key.log_id());
    let mut timestamp_ms = None;
    for (i, line) in sigs.trim_end_matches('\n').split('\n').enumerate() {
        if i >= CHECKPOINT_SIGNATURES_MAX {
            return Err(CheckpointError::TooManySignatures);
        }
        let (name, key_id, sig) = parse_signature_line(line)
            .ok_or(CheckpointError::MalformedSignatureLine { line: i + 1 })?;
        if name != origin || key_id != log_key_id {
            continue; // a witness, or another key of the log: not ours to check
        }
        let ts = verify_note_signature(&sig, tree_size, &root_hash, key)
            .map_err(CheckpointError::BadLogSignature)?;
        timestamp_ms.get_or_insert(ts);
    }
    let timestamp_ms = timestamp_ms.ok_or(CheckpointError::NoLogSignature)?;
    Ok(Checkpoint {
        origin: origin.to_string(),
        tree_size,
        root_hash,
        timestamp_ms,
    })
}

// ---- Data tiles --------------------------------------------------------------------------------

/// One entry of a data tile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileLeaf {
    /// The leaf index: `256 * tile + position`, equal to the `leaf_index` extension if present.
    pub index: u64,
    pub timestamp_ms: u64,
    pub kind: EntryKind,
    /// The x509 certificate, or the signed `pre_certificate` (never the TBS).
    pub leaf_der: Bytes,
    /// SHA-256 of each chain certificate, issuer first; resolve via [`issuer_url`].
    /// At most [`CHAIN_CERTS_MAX`] are kept (the rest are validated, then dropped).
    pub chain_fingerprints: Vec<[u8; 32]>,
    /// The `TimestampedEntry` bytes (timestamp through extensions): with the two-byte
    /// MerkleTreeLeaf header it is the Merkle leaf, see [`TileLeaf::leaf_hash`].
    pub timestamped_entry: Bytes,
}

impl TileLeaf {
    /// The Merkle leaf hash: `SHA-256(0x00 || 0x00 (v1) || 0x00 (timestamped_entry) || entry)`.
    pub fn leaf_hash(&self) -> [u8; 32] {
        sha256(&[&[0, 0, 0], &self.timestamped_entry])
    }

    /// The decoded entry, with the chain certificates the fingerprints resolved to.
    pub fn into_log_entry(self, chain: Vec<Bytes>) -> LogEntry {
        LogEntry {
            index: self.index,
            timestamp_ms: self.timestamp_ms,
            kind: self.kind,
            leaf_der: self.leaf_der,
            chain,
        }
    }
}

/// What is wrong with one entry of a data tile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TileEntryError {
    Tls(TlsError),
    /// Neither x509_entry nor precert_entry: the rest of the tile cannot be located.
    UnknownEntryType(u16),
    BadLeafIndexLength {
        len: usize,
    },
    DuplicateLeafIndex,
    LeafIndexMismatch {
        expected: u64,
        found: u64,
    },
    /// `certificate_chain` is not a whole number of 32-byte fingerprints.
    FingerprintsLength {
        len: usize,
    },
}

impl fmt::Display for TileEntryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TileEntryError::Tls(e) => write!(f, "{e}"),
            TileEntryError::UnknownEntryType(t) => write!(f, "unknown entry_type {t}"),
            TileEntryError::BadLeafIndexLength { len } => {
                write!(f, "leaf_index extension is {len} bytes, not 5")
            }
            TileEntryError::DuplicateLeafIndex => write!(f, "two leaf_index extensions"),
            TileEntryError::LeafIndexMismatch { expected, found } => {
                write!(
                    f,
                    "leaf_index extension says {found}, position says {expected}"
                )
            }
            TileEntryError::FingerprintsLength { len } => {
                write!(
                    f,
                    "certificate_chain of {len} bytes is not a multiple of 32"
                )
            }
        }
    }
}

impl From<TlsError> for TileEntryError {
    fn from(e: TlsError) -> Self {
        TileEntryError::Tls(e)
    }
}

impl std::error::Error for TileEntryError {}

impl DecodeFailure for TileEntryError {
    fn kind(&self) -> DecodeKind {
        match self {
            TileEntryError::Tls(e) => e.kind(),
            TileEntryError::UnknownEntryType(_) => DecodeKind::Unsupported,
            TileEntryError::BadLeafIndexLength { .. }
            | TileEntryError::DuplicateLeafIndex
            | TileEntryError::FingerprintsLength { .. } => DecodeKind::Malformed,
            TileEntryError::LeafIndexMismatch { .. } => DecodeKind::Mismatch,
        }
    }
}

/// Why a data tile was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TileError {
    /// The requested width is not 1..=256.
    BadWidth { width: usize },
    /// `256 * tile_index + width` does not fit a u64.
    IndexOverflow { tile_index: u64 },
    /// Entry at `position` (starting at byte `offset`) is broken.
    Entry {
        position: usize,
        offset: usize,
        error: TileEntryError,
    },
    /// Bytes left after `width` entries (exact parse only).
    TrailingBytes { width: usize, count: usize },
}

impl fmt::Display for TileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TileError::BadWidth { width } => write!(f, "tile width {width} is not 1..=256"),
            TileError::IndexOverflow { tile_index } => {
                write!(f, "leaf indices of tile {tile_index} overflow u64")
            }
            TileError::Entry {
                position,
                offset,
                error,
            } => {
                write!(f, "tile entry {position} (byte {offset}): {error}")
            }
            TileError::TrailingBytes { width, count } => {
                write!(f, "{count} bytes after the {width} expected tile entries")
            }
        }
    }
}

impl std::error::Error for TileError {}

impl DecodeFailure for TileError {
    fn kind(&self) -> DecodeKind {
        match self {
            TileError::BadWidth { .. } | TileError::IndexOverflow { .. } => DecodeKind::BadRequest,
            TileError::Entry { error, .. } => error.kind(),
            TileError::TrailingBytes { .. } => DecodeKind::Malformed,
        }
    }
}

/// Checks the CtExtensions of a tile leaf: a `leaf_index` extension, when present, must be
/// the only one of its kind, 5 bytes, and equal `expected`. Other types are skipped.
fn check_extensions(extensions: &[u8], expected: u64) -> Result<(), TileEntryError> {
    let mut r = TlsReader::new(extensions);
    let mut seen = false;
    while !r.is_empty() {
        let ext_type = r.u8("extension_type")?;
        let data = r.opaque16(0, "extension_data")?;
        if ext_type != EXTENSION_LEAF_INDEX {
            continue;
        }
        if seen {
            return Err(TileEntryError::DuplicateLeafIndex);
        }
        seen = true;
        if data.len() != LEAF_INDEX_LEN {
            return Err(TileEntryError::BadLeafIndexLength { len: data.len() });
        }
        let found = TlsReader::new(data).u40("leaf_index")?;
        if found != expected {
            return Err(TileEntryError::LeafIndexMismatch { expected, found });
        }
    }
    Ok(())
}

/// Splits `certificate_chain` into fingerprints, keeping at most [`CHAIN_CERTS_MAX`].
fn read_fingerprints(r: &mut TlsReader<'_>) -> Result<Vec<[u8; 32]>, TileEntryError> {
    let raw = r.opaque16(0, "certificate_chain")?;
    if raw.len() % 32 != 0 {
        return Err(TileEntryError::FingerprintsLength { len: raw.len() });
    }
    Ok(raw
        .chunks_exact(32)
        .take(CHAIN_CERTS_MAX)
        .map(|c| {
            let mut fp = [0u8; 32];
            fp.copy_from_slice(c);
            fp
        })
        .collect())
}

/// Reads one TileLeaf that should be leaf `index`.
fn read_tile_leaf(
    tile: &Bytes,
    r: &mut TlsReader<'_>,
    index: u64,
) -> Result<TileLeaf, TileEntryError> {
    let start = r.offset();
    let timestamp_ms = r.u64("timestamp")?;
    let raw_type = r.u16("entry_type")?;
    let kind = entry_kind(raw_type).ok_or(TileEntryError::UnknownEntryType(raw_type))?;
    let signed_entry = read_signed_entry(r, kind)?;
    check_extensions(r.opaque16(0, "extensions")?, index)?;
    let timestamped_entry = tile.slice(start..r.offset());
    let leaf_der = match kind {
        EntryKind::X509 => tile.slice_ref(signed_entry.der),
        EntryKind::Precert => tile.slice_ref(r.opaque24(1, "pre_certificate")?),
    };
    let chain_fingerprints = read_fingerprints(r)?;
    Ok(TileLeaf {
        index,
        timestamp_ms,
        kind,
        leaf_der,
        chain_fingerprints,
        timestamped_entry,
    })
}

/// Parses the first `width` leaves of tile `tile_index`; returns them and the bytes left over.
fn parse_leaves(
    tile: &Bytes,
    tile_index: u64,
    width: usize,
) -> Result<(Vec<TileLeaf>, usize), TileError> {
    let mut leaves = Vec::with_capacity(width);
    let remaining = read_leaves(tile, tile_index, width, &mut leaves)?;
    Ok((leaves, remaining))
}

/// Appends the first `width` leaves of tile `tile_index` to `leaves`, stopping at the first
/// broken one (the leaves before it stay appended); returns the bytes left over.
fn read_leaves(
    tile: &Bytes,
    tile_index: u64,
    width: usize,
    leaves: &mut Vec<TileLeaf>,
) -> Result<usize, TileError> {
    if !(1..=TILE_WIDTH).contains(&width) {
        return Err(TileError::BadWidth { width });
    }
    let first = tile_index
        .checked_mul(TILE_WIDTH as u64)
        .filter(|first| first.checked_add(width as u64 - 1).is_some())
        .ok_or(TileError::IndexOverflow { tile_index })?;
    let mut r = TlsReader::new(tile);
    for position in 0..width {
        // No overflow: `first + width - 1` was checked above.
        let index = first + position as u64;
        let offset = r.offset();
        let leaf = read_tile_leaf(tile, &mut r, index).map_err(|error| TileError::Entry {
            position,
            offset,
            error,
        })?;
        leaves.push(leaf);
    }
    Ok(r.remaining())
}

/// What can still be read from a data tile that does not parse as `width` leaves: the intact
/// leaves before the first broken entry, and the position of that entry (`width` when every
/// leaf parsed and only trailing bytes are wrong). Leaves are length-prefixed one after the
/// other, so nothing after a broken entry can be located.
#[derive(Debug, PartialEq)]
pub struct TilePrefix {
    pub leaves: Vec<TileLeaf>,
    pub broken_at: usize,
    pub error: TileError,
}

/// Parses a data tile like [`parse_data_tile`]; when it is broken, returns what precedes the
/// break instead of nothing. `Ok(Err(_))` is a broken tile; `Err` a request that cannot be
/// answered at all (bad width or index).
pub fn parse_data_tile_salvaging(
    tile: &Bytes,
    tile_index: u64,
    width: usize,
) -> Result<Result<Vec<TileLeaf>, TilePrefix>, TileError> {
    let mut leaves = Vec::with_capacity(width);
    let (broken_at, error) = match read_leaves(tile, tile_index, width, &mut leaves) {
        Ok(0) => return Ok(Ok(leaves)),
        Ok(count) => (width, TileError::TrailingBytes { width, count }),
        Err(error @ TileError::Entry { .. }) => (leaves.len(), error),
        Err(error) => return Err(error),
    };
    Ok(Err(TilePrefix {
        leaves,
        broken_at,
        error,
    }))
}

/// Parses a data tile that must hold exactly `width` leaves (256 for a full tile, W for
/// `.p/W`). Fewer entries or bytes after the last one are errors.
pub fn parse_data_tile(
    tile: &Bytes,
    tile_index: u64,
    width: usize,
) -> Result<Vec<TileLeaf>, TileError> {
    let (leaves, count) = parse_leaves(tile, tile_index, width)?;
    if count != 0 {
        return Err(TileError::TrailingBytes { width, count });
    }
    Ok(leaves)
}

/// Parses the first `width` leaves of a data tile that may hold more: a full tile fetched
/// because the partial `.p/W` was already gone. Entries past `width` are not examined.
pub fn parse_data_tile_prefix(
    tile: &Bytes,
    tile_index: u64,
    width: usize,
) -> Result<Vec<TileLeaf>, TileError> {
    parse_leaves(tile, tile_index, width).map(|(leaves, _)| leaves)
}

#[cfg(test)]
mod tests {
    use sonic_rs::JsonValueTrait as _;

    use super::*;

    fn fixture(rel: &str) -> Vec<u8> {
        crate::ct::ctdata(&format!("static-ct/{rel}"))
    }

    fn b64(s: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD.decode(s).unwrap()
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Key and origin of the synthetic Skylight test log, from its per-log JSON.
    fn rome() -> (LogKey, String) {
        let json = fixture("skylight-test-rome2026h1/log.v3.json");
        let v: sonic_rs::Value = sonic_rs::from_slice(&json).unwrap();
        let key = LogKey::from_base64(v.get("key").unwrap().as_str().unwrap()).unwrap();
        assert_eq!(
            key.log_id().to_vec(),
            b64(v.get("log_id").unwrap().as_str().unwrap())
        );
        let origin = origin_from_submission_url(v.get("submission_url").unwrap().as_str().unwrap());
        (key, origin)
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin_from_submission_url("https://log.sycamore.ct.letsencrypt.org/2026h1/"),
            "log.sycamore.ct.letsencrypt.org/2026h1"
        );
        assert_eq!(
            origin_from_submission_url("https://rome2026h1.example.org/"),
            "rome2026h1.example.org"
        );
        assert_eq!(
            origin_from_submission_url("tuscolo2026h1.sunlight.geomys.org"),
            "tuscolo2026h1.sunlight.geomys.org"
        );
    }

    #[test]
    fn tile_paths() {
        // Vectors from ct-protocol.md §2.3 (certspotter ctclient/static_test.go).
        assert_eq!(tile_index_path(0), "000");
        assert_eq!(tile_index_path(5), "005");
        assert_eq!(tile_index_path(999), "999");
        assert_eq!(tile_index_path(1000), "x001/000");
        assert_eq!(tile_index_path(1234067), "x001/x234/067");
        assert_eq!(
            tile_index_path(u64::MAX),
            "x018/x446/x744/x073/x709/x551/615"
        );
        let mon = "https://mon.sycamore.ct.letsencrypt.org/2026h1/";
        assert_eq!(
            data_tile_url(mon, 1234067, 256),
            format!("{mon}tile/data/x001/x234/067")
        );
        assert_eq!(
            data_tile_url(mon, 3, 17),
            format!("{mon}tile/data/003.p/17")
        );
        assert_eq!(
            data_tile_url("https://h.example/log", 0, 1),
            "https://h.example/log/tile/data/000.p/1"
        );
        let mut fp = [0u8; 32];
        fp[0] = 0xAB;
        fp[31] = 0x0c;
        assert_eq!(
            issuer_url(mon, &fp),
            format!("{mon}issuer/ab{}0c", "00".repeat(30))
        );
    }

    #[test]
    fn rome_checkpoint_verifies() {
        let (key, origin) = rome();
        let cp = parse_checkpoint(
            &fixture("skylight-test-rome2026h1/checkpoint"),
            &origin,
            &key,
        )
        .unwrap();
        assert_eq!(cp.origin, "rome2026h1.example.org");
        assert_eq!(cp.tree_size, 300);
        assert_eq!(cp.timestamp_ms, 1767139200000);
        assert_eq!(
            cp.root_hash.to_vec(),
            b64("lCkHUpkmVBEms2r2T1K6Og69+wUuuN3MIEW1/ezu2v0=")
        );
        // ct-protocol.md §2.2: the key ID is 91 50 75 26.
        assert_eq!(
            rfc6962_note_key_id(&origin, &key.log_id()),
            [0x91, 0x50, 0x75, 0x26]
        );
    }

    #[test]
    fn witness_cosigned_checkpoint_verifies() {
        let (key, origin) = rome();
        let text = fixture("skylight-test-rome2026h1/checkpoint.witness-cosigned");
        let cp = parse_checkpoint(&text, &origin, &key).unwrap();
        assert_eq!((cp.tree_size, cp.timestamp_ms), (300, 1767139200000));
        // Witness line first, log line second: order does not matter.
        let s = String::from_utf8(text).unwrap();
        let (head, sigs) = s.split_once("\n\n").unwrap();
        let lines: Vec<&str> = sigs.lines().collect();
        let swapped = format!("{head}\n\n{}\n{}\n", lines[1], lines[0]);
        assert_eq!(
            parse_checkpoint(swapped.as_bytes(), &origin, &key).unwrap(),
            cp
        );
        // Only the witness line: no log signature.
        let witness_only = format!("{head}\n\n{}\n", lines[1]);
        assert_eq!(
            parse_checkpoint(witness_only.as_bytes(), &origin, &key),
            Err(CheckpointError::NoLogSignature)
        );
    }

    #[test]
    fn checkpoint_rejections() {
        let (key, origin) = rome();
        let good = String::from_utf8(fixture("skylight-test-rome2026h1/checkpoint")).unwrap();
        let err = |text: &str| parse_checkpoint(text.as_bytes(), &origin, &key).unwrap_err();

        assert!(matches!(
            parse_checkpoint(good.as_bytes(), "other.example.org", &key),
            Err(CheckpointError::OriginMismatch { .. })
        ));
        let other = LogKey::from_base64(crate::ct::sig::test_keys::NAVIGLI2025H2).unwrap();
        assert_eq!(
            parse_checkpoint(good.as_bytes(), &origin, &other),
            Err(CheckpointError::NoLogSignature)
        );

        assert_eq!(
            err(&good.replace("\n300\n", "\n301\n")),
            CheckpointError::BadLogSignature(SigError::BadSignature)
        );
        assert_eq!(
            err(&good.replace("\n300\n", "\n0300\n")),
            CheckpointError::BadTreeSize
        );
        assert_eq!(
            err(&good.replace("\n300\n", "\n300!\n")),
            CheckpointError::BadTreeSize
        );
        assert_eq!(
            err(&good.replace("\n300\n", "\n-300\n")),
            CheckpointError::BadTreeSize
        );
        assert_eq!(
            err(&good.replace("\n300\n", "\n18446744073709551616\n")),
            CheckpointError::BadTreeSize
        );
        assert_eq!(
            err(&good.replace("lCkHUpkm", "lCkH!pkm")),
            CheckpointError::BadRootHash
        );
        assert_eq!(
            err(&good.replace("lCkHUpkmVBEms2r2T1K6Og69+wUuuN3MIEW1/ezu2v0=", "bm9wZQ==")),
            CheckpointError::BadRootHash
        );
        assert_eq!(
            err(&good.replace('\u{2014}', "-")),
            CheckpointError::MalformedSignatureLine { line: 1 }
        );
        assert_eq!(
            err(&good.replace(" kVB1", " !VB1")),
            CheckpointError::MalformedSignatureLine { line: 1 }
        );
        assert_eq!(
            err(&good.replace("org kVB1", "orgkVB1")),
            CheckpointError::MalformedSignatureLine { line: 1 }
        );
        assert_eq!(
            err(good.trim_end_matches('\n')),
            CheckpointError::MalformedSignatureLine { line: 1 }
        );
        assert_eq!(
            err(&good.replace("\n300\n", "\n\n300\n")),
            CheckpointError::MalformedText
        );
        assert_eq!(
            err(&good.replace('\n', "\r\n")),
            CheckpointError::ControlCharacter
        );
        // Extension lines are tolerated (certspotter accepts them too).
        let ext = good.replacen("v0=\n", "v0=\nextension line\n", 1);
        assert_eq!(
            parse_checkpoint(ext.as_bytes(), &origin, &key)
                .unwrap()
                .tree_size,
            300
        );
        // An unknown signer with a malformed line is still a malformed note.
        let extra = format!("{good}\u{2014} witness.example.org c2ln\n");
        assert_eq!(
            err(&extra),
            CheckpointError::MalformedSignatureLine { line: 2 }
        );
        // Too many signature lines.
        let line = "\u{2014} witness.example.org c2lnbmF0dXJlCg==\n";
        let many = format!("{good}{}", line.repeat(CHECKPOINT_SIGNATURES_MAX));
        assert_eq!(err(&many), CheckpointError::TooManySignatures);
        let huge = "a".repeat(CHECKPOINT_BYTES_MAX + 1);
        assert!(matches!(err(&huge), CheckpointError::TooLarge { .. }));
        assert_eq!(
            parse_checkpoint(&[0xff, b'\n', b'\n'], &origin, &key),
            Err(CheckpointError::NotUtf8)
        );
    }

    #[test]
    fn checkpoint_signature_bit_flips_never_verify() {
        let (key, origin) = rome();
        let good = String::from_utf8(fixture("skylight-test-rome2026h1/checkpoint")).unwrap();
        let sig_b64 = good.rsplit(' ').next().unwrap().trim_end();
        let sig = b64(sig_b64);
        for i in 0..sig.len() * 8 {
            let mut bad = sig.clone();
            bad[i / 8] ^= 1 << (i % 8);
            let text = good.replace(
                sig_b64,
                &base64::engine::general_purpose::STANDARD.encode(&bad),
            );
            let res = parse_checkpoint(text.as_bytes(), &origin, &key);
            assert!(res.is_err(), "bit {i} flip accepted");
        }
    }

    /// Sycamore2024h2's key is not in the shared data (certspotter's test uses only its log
    /// ID), so the Rome key stands in: every case fails before any key is consulted.
    #[test]
    fn sycamore_invalid_checkpoints_fail_cleanly() {
        let (key, _) = rome();
        let origin = "sycamore.ct.letsencrypt.org/2024h2";
        let cases = [
            ("checkpoint.empty", CheckpointError::Empty),
            (
                "checkpoint.newline-only",
                CheckpointError::MissingSignatureBlock,
            ),
            (
                "checkpoint.no-signature-block",
                CheckpointError::MissingSignatureBlock,
            ),
            (
                "checkpoint.blank-line-no-signatures",
                CheckpointError::NoSignatures,
            ),
        ];
        for (file, want) in cases {
            let text = fixture(&format!("sycamore2024h2/invalid/{file}"));
            assert_eq!(parse_checkpoint(&text, origin, &key), Err(want), "{file}");
        }
    }

    fn navigli_tile(n: u64) -> Bytes {
        Bytes::from(fixture(&format!("navigli2025h2/tile/data/{n:03}")))
    }

    fn navigli_issuers() -> Vec<([u8; 32], Vec<u8>)> {
        let dir = format!(
            "{}/loadtest/fixtures/ctdata/static-ct/navigli2025h2/issuer",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let der = std::fs::read(e.unwrap().path()).unwrap();
                (sha256(&[&der]), der)
            })
            .collect()
    }

    #[test]
    fn navigli_data_tiles_parse_and_match_level0_hashes() {
        let issuers = navigli_issuers();
        assert_eq!(issuers.len(), 5);
        for t in 0..3u64 {
            let tile = navigli_tile(t);
            let leaves = parse_data_tile(&tile, t, TILE_WIDTH).unwrap();
            assert_eq!(leaves.len(), 256);
            let level0 = fixture(&format!("navigli2025h2/tile/0/{t:03}"));
            for (k, leaf) in leaves.iter().enumerate() {
                assert_eq!(leaf.index, 256 * t + k as u64);
                assert_eq!(leaf.kind, EntryKind::Precert);
                assert_eq!(
                    leaf.leaf_hash()[..],
                    level0[32 * k..32 * k + 32],
                    "tile {t} leaf {k}"
                );
                assert_eq!(leaf.chain_fingerprints.len(), 2);
                for fp in &leaf.chain_fingerprints {
                    assert!(
                        issuers.iter().any(|(h, _)| h == fp),
                        "unknown issuer {}",
                        hex(fp)
                    );
                }
                // Zero copy: leaf_der points into the tile buffer.
                let base = tile.as_ptr() as usize;
                let p = leaf.leaf_der.as_ptr() as usize;
                assert!(p >= base && p + leaf.leaf_der.len() <= base + tile.len());
            }
            // SOURCES.md timestamps of the first and last entry of each tile.
            let want = [
                (1746292399101, 1746292523102),
                (1746292523102, 1746292582102),
                (1746292583102, 1746292632101),
            ];
            assert_eq!(
                (leaves[0].timestamp_ms, leaves[255].timestamp_ms),
                want[t as usize]
            );
        }
    }

    #[test]
    fn navigli_first_precert_matches_documented_layout() {
        let tile = navigli_tile(0);
        let leaf = parse_data_tile(&tile, 0, 256).unwrap().remove(0);
        // ct-protocol.md §2.4: pre_certificate at byte 1203, 1446 bytes, starting 30 82 05 a2.
        assert_eq!(leaf.leaf_der.len(), 1446);
        assert_eq!(leaf.leaf_der.as_ptr(), tile[1203..].as_ptr());
        assert_eq!(&leaf.leaf_der[..4], &[0x30, 0x82, 0x05, 0xa2]);
        assert_eq!(leaf.timestamped_entry.len(), 1200);
        assert_eq!(hex(&leaf.chain_fingerprints[0])[..8], *"54588456");
        assert_eq!(hex(&leaf.chain_fingerprints[1])[..8], *"e70570a9");
        let (_, cert) = x509_parser::parse_x509_certificate(&leaf.leaf_der).unwrap();
        let poison = cert
            .extensions()
            .iter()
            .any(|x| x.oid.to_id_string() == "1.3.6.1.4.1.11129.2.4.3");
        assert!(poison);
        // SOURCES.md: entry 0 has 8 SANs and CN *.gated.dev-euw1.x0a839b.drive-platform.io.
        let cn = cert
            .subject()
            .iter_common_name()
            .next()
            .unwrap()
            .as_str()
            .unwrap();
        assert_eq!(cn, "*.gated.dev-euw1.x0a839b.drive-platform.io");
        let san = cert.subject_alternative_name().unwrap().unwrap();
        assert_eq!(san.value.general_names.len(), 8);
        // The same entry as the derived RFC 6962 get-entries body: identical leaf hash and DER.
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/loadtest/fixtures/ctdata/rfc6962/navigli2025h2_get-entries_0-15.json"
        ))
        .unwrap();
        let rfc = crate::ct::rfc6962::parse_get_entries(&body, 0, 16)
            .unwrap()
            .remove(0)
            .unwrap();
        assert_eq!(rfc.leaf_der, leaf.leaf_der);
        assert_eq!(
            b64("yFPVEhEEE1qF+KZqnRbWIjTVQUc+14QkAyYiVkut3d8="),
            leaf.leaf_hash()
        );
        let entry = leaf.into_log_entry(vec![]);
        assert_eq!((entry.index, entry.kind), (0, EntryKind::Precert));
    }

    #[test]
    fn salvaging_parse_keeps_the_leaves_before_the_break() {
        let tile = navigli_tile(1);
        let full = parse_data_tile(&tile, 1, 256).unwrap();
        assert_eq!(
            parse_data_tile_salvaging(&tile, 1, 256),
            Ok(Ok(full.clone()))
        );
        // Trailing bytes: every leaf readable, the break is past the last one.
        let Ok(Err(trailing)) = parse_data_tile_salvaging(&tile, 1, 10) else {
            panic!("a full tile read as 10 leaves has trailing bytes");
        };
        assert_eq!(
            (trailing.leaves.as_slice(), trailing.broken_at),
            (&full[..10], 10)
        );
        // Cut inside entry 100: entries 0..100 are kept, the break is at 100.
        let cut = full[100].leaf_der.as_ptr() as usize - tile.as_ptr() as usize + 5;
        let Ok(Err(truncated)) = parse_data_tile_salvaging(&tile.slice(..cut), 1, 256) else {
            panic!("a truncated tile is broken");
        };
        assert_eq!(truncated.leaves, full[..100]);
        assert_eq!(truncated.broken_at, 100);
        assert!(matches!(
            truncated.error,
            TileError::Entry { position: 100, .. }
        ));
        assert_eq!(
            parse_data_tile_salvaging(&tile, 1, 0).map(|_| ()),
            Err(TileError::BadWidth { width: 0 })
        );
    }

    #[test]
    fn partial_and_prefix_parsing() {
        let tile = navigli_tile(1);
        let full = parse_data_tile(&tile, 1, 256).unwrap();
        // A full tile read as a partial of width 10: exact parse refuses, prefix parse accepts.
        assert!(matches!(
            parse_data_tile(&tile, 1, 10),
            Err(TileError::TrailingBytes { width: 10, .. })
        ));
        let prefix = parse_data_tile_prefix(&tile, 1, 10).unwrap();
        assert_eq!(prefix, full[..10]);
        // A real partial tile .p/10 is exactly the first 10 entries' bytes.
        let end = full[9].leaf_der.as_ptr() as usize - tile.as_ptr() as usize
            + full[9].leaf_der.len()
            + 2
            + 64;
        let partial = tile.slice(..end);
        assert_eq!(parse_data_tile(&partial, 1, 10).unwrap(), full[..10]);
        assert!(matches!(
            parse_data_tile(&partial, 1, 11),
            Err(TileError::Entry {
                position: 10,
                error: TileEntryError::Tls(TlsError::Truncated { .. }),
                ..
            })
        ));
        assert_eq!(
            parse_data_tile(&tile, 1, 0),
            Err(TileError::BadWidth { width: 0 })
        );
        assert_eq!(
            parse_data_tile(&tile, 1, 257),
            Err(TileError::BadWidth { width: 257 })
        );
        assert_eq!(
            parse_data_tile(&tile, u64::MAX / 256 + 1, 1),
            Err(TileError::IndexOverflow {
                tile_index: u64::MAX / 256 + 1
            })
        );
        // The very last tile of the index space parses (leaf_index extensions aside).
        let last = u64::MAX / 256;
        assert!(matches!(
            parse_data_tile(&tile, last, 256),
            Err(TileError::Entry {
                position: 0,
                error: TileEntryError::LeafIndexMismatch { .. },
                ..
            })
        ));
    }

    #[test]
    fn leaf_index_is_checked() {
        let tile = navigli_tile(0);
        // Tile 0's bytes presented as tile 1: every leaf_index is off by 256.
        assert!(matches!(
            parse_data_tile(&tile, 1, 256),
            Err(TileError::Entry {
                position: 0,
                offset: 0,
                error: TileEntryError::LeafIndexMismatch {
                    expected: 256,
                    found: 0
                }
            })
        ));
        // Byte 1192: extension type 0, length 5, uint40 index (ct-protocol.md §2.4).
        let mut raw = tile.to_vec();
        assert_eq!(&raw[1190..1200], &[0, 8, 0, 0, 5, 0, 0, 0, 0, 0]);
        raw[1199] = 9;
        let err = parse_data_tile(&Bytes::from(raw.clone()), 0, 256).unwrap_err();
        assert_eq!(
            err,
            TileError::Entry {
                position: 0,
                offset: 0,
                error: TileEntryError::LeafIndexMismatch {
                    expected: 0,
                    found: 9
                }
            }
        );
        assert_eq!(
            err.to_string(),
            "tile entry 0 (byte 0): leaf_index extension says 9, position says 0"
        );
        // Unknown extension type 7 is skipped and the index still checked.
        raw[1192] = 7;
        raw[1199] = 0;
        assert_eq!(
            parse_data_tile(&Bytes::from(raw.clone()), 0, 256)
                .unwrap()
                .len(),
            256
        );
        // Unknown entry type stops the tile.
        raw[9] = 2;
        assert!(matches!(
            parse_data_tile(&Bytes::from(raw), 0, 256),
            Err(TileError::Entry {
                position: 0,
                error: TileEntryError::UnknownEntryType(2),
                ..
            })
        ));
    }

    /// Builds an x509 TileLeaf by hand: `extensions` and `fingerprints` as given.
    fn x509_tile_leaf(cert: &[u8], extensions: &[u8], fingerprints: &[u8]) -> Vec<u8> {
        let mut v = 1_700_000_000_000u64.to_be_bytes().to_vec();
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(&(cert.len() as u32).to_be_bytes()[1..]);
        v.extend_from_slice(cert);
        v.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
        v.extend_from_slice(extensions);
        v.extend_from_slice(&(fingerprints.len() as u16).to_be_bytes());
        v.extend_from_slice(fingerprints);
        v
    }

    #[test]
    fn x509_leaves_and_extension_edge_cases() {
        let fp = [7u8; 32];
        // Empty extensions (RFC 6962 archival leaves): positional index.
        let tile = Bytes::from(
            [
                x509_tile_leaf(b"A", b"", &fp),
                x509_tile_leaf(b"BB", b"", b""),
            ]
            .concat(),
        );
        let leaves = parse_data_tile(&tile, 4, 2).unwrap();
        assert_eq!(
            leaves.iter().map(|l| l.index).collect::<Vec<_>>(),
            [1024, 1025]
        );
        assert_eq!(&leaves[0].leaf_der[..], b"A");
        assert_eq!(leaves[0].chain_fingerprints, vec![fp]);
        assert!(leaves[1].chain_fingerprints.is_empty());
        assert_eq!(leaves[1].kind, EntryKind::X509);

        let bad_fp = Bytes::from(x509_tile_leaf(b"A", b"", &[1u8; 33]));
        assert!(matches!(
            parse_data_tile(&bad_fp, 0, 1),
            Err(TileError::Entry {
                error: TileEntryError::FingerprintsLength { len: 33 },
                ..
            })
        ));
        let short_idx = Bytes::from(x509_tile_leaf(b"A", &[0, 0, 4, 0, 0, 0, 0], b""));
        assert!(matches!(
            parse_data_tile(&short_idx, 0, 1),
            Err(TileError::Entry {
                error: TileEntryError::BadLeafIndexLength { len: 4 },
                ..
            })
        ));
        let dup = Bytes::from(x509_tile_leaf(
            b"A",
            &[0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0],
            b"",
        ));
        assert!(matches!(
            parse_data_tile(&dup, 0, 1),
            Err(TileError::Entry {
                error: TileEntryError::DuplicateLeafIndex,
                ..
            })
        ));
        let cut_ext = Bytes::from(x509_tile_leaf(b"A", &[0, 0, 5, 0], b""));
        assert!(matches!(
            parse_data_tile(&cut_ext, 0, 1),
            Err(TileError::Entry {
                error: TileEntryError::Tls(_),
                ..
            })
        ));
        let many = Bytes::from(x509_tile_leaf(
            b"A",
            b"",
            &[3u8; 32 * (CHAIN_CERTS_MAX + 2)],
        ));
        assert_eq!(
            parse_data_tile(&many, 0, 1).unwrap()[0]
                .chain_fingerprints
                .len(),
            CHAIN_CERTS_MAX
        );
    }

    #[test]
    fn truncated_tiles_fail_without_panicking() {
        let tile = navigli_tile(2);
        // Every cut inside the first three entries, then coarse steps through the rest.
        let cuts = (0..8200).chain((8200..tile.len()).step_by(997));
        for cut in cuts {
            let t = tile.slice(..cut);
            assert!(
                parse_data_tile(&t, 2, 256).is_err(),
                "cut at {cut} accepted"
            );
        }
    }
}
