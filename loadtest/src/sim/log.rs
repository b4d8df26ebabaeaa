//! One simulated log: identity (key, log ID, URLs), the sequenced tree (timestamps, leaf hashes,
//! Merkle frontier) and what has been published (STH / checkpoints).
//!
//! # Invariants worth naming
//! * Only the sequencer thread appends; readers take the `RwLock` briefly to copy the
//!   published size and the timestamps they need, then generate bytes outside the lock.
//! * `published.size <= frontier.size()`: clients never see entries beyond the last STH or
//!   checkpoint, and a full tile becomes visible only when a checkpoint covers it.
//! * A partial tile `.p/W` is served only if a checkpoint was published with size
//!   `256·N + W` and tile N is not yet full (it 404s once the full tile is published).
//! * A corrupted entry (see [`super::faults`]) is corrupted in every encoding of it, the Merkle
//!   leaf hash included: what a client fetches is what the tree commits to.

use std::{
    collections::VecDeque,
    sync::{Arc, RwLock, RwLockReadGuard},
};

use base64::{engine::general_purpose::STANDARD, Engine};
use ring::{
    rand::SystemRandom,
    signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING},
};

use super::{
    certgen::{ec_spki, ecdsa_key, CertGenError},
    encode::{self, EntryBody, EntryBytes},
    faults::{self, CorruptKind, Injector},
    fixtures::{ReplayInfo, RfcReplayEntry, StaticReplay},
    gen::{EntryKind, Generator},
    log_type::LogType,
    merkle::{sha256, Frontier, Hash},
};

/// Leaves per tile (static-ct-api).
pub const TILE_WIDTH: u64 = 256;

/// Earlier tree heads kept per log, for the `stale_head` fault.
const HEAD_HISTORY: usize = 64;

/// Where a log's entries come from.
pub enum Source {
    Generated,
    RfcReplay(Vec<RfcReplayEntry>),
    StaticReplay(StaticReplay),
}

/// Immutable identity of a log.
pub struct LogMeta {
    pub idx: usize,
    pub kind: LogType,
    pub name: String,
    pub key: EcdsaKeyPair,
    pub spki: Vec<u8>,
    pub log_id: Hash,
    /// Path prefix of the read API, e.g. `/rfc6962/log0/` or `/static/log1/`.
    pub path: String,
    /// Static logs: submission prefix path (origin is derived from it), e.g. `/sub/static/log1/`.
    pub submission_path: Option<String>,
    /// Entries per get-entries response (RFC 6962 logs).
    pub page_cap: u64,
    pub source: Source,
}

impl LogMeta {
    pub fn grows(&self) -> bool {
        matches!(self.source, Source::Generated)
    }
}

/// The last published tree head.
#[derive(Clone, Debug, Default)]
pub struct Published {
    pub size: u64,
    pub timestamp_ms: u64,
    pub root: Hash,
    /// RFC 6962 logs: get-sth JSON body.
    pub sth_json: Arc<str>,
    /// Static logs: checkpoint per origin (http first, then https when enabled).
    pub checkpoints: Vec<Arc<str>>,
}

#[derive(Default)]
pub struct LogState {
    pub timestamps: Vec<u64>,
    pub leaf_hashes: Vec<Hash>,
    frontier: Frontier,
    pub published: Published,
    /// Tile index of `partial_widths`.
    partial_tile: u64,
    /// Widths of partial data tiles published for `partial_tile`.
    partial_widths: Vec<u16>,
    /// Sequenced entries that are corrupted, in index order.
    pub corrupted: Vec<(u64, CorruptKind)>,
    /// Heads published before `published`, oldest first (at most [`HEAD_HISTORY`]).
    history: VecDeque<Published>,
    /// `(tile, width)` of the partial tiles at the edge of heads served by the `head_size`
    /// fault: a client that saw such a head finds its partial tile, as on a log of that size.
    served_widths: Vec<(u64, u16)>,
}

impl LogState {
    pub fn sequenced(&self) -> u64 {
        self.frontier.size()
    }

    /// Whether `tile/data/<n>[.p/<w>]` may be served now (see module invariants).
    pub fn tile_visible(&self, n: u64, width: Option<u16>) -> bool {
        let published = self.published.size;
        match width {
            None => (n + 1) * TILE_WIDTH <= published,
            Some(w) => {
                let full = (n + 1) * TILE_WIDTH <= published;
                (!full && n == self.partial_tile && self.partial_widths.contains(&w))
                    || self.served_widths.contains(&(n, w))
            }
        }
    }

    /// The head published `back` publications ago (the oldest kept one if fewer exist).
    pub fn stale_head(&self, back: usize) -> &Published {
        let kept = self.history.len();
        match kept.checked_sub(back) {
            Some(i) => &self.history[i],
            None => self.history.front().unwrap_or(&self.published),
        }
    }
}

pub struct Log {
    pub meta: LogMeta,
    state: RwLock<LogState>,
}

/// `TreeHeadSignature` (RFC 6962 §3.5): v1, tree_hash, timestamp, size, root — 50 bytes.
pub fn tree_head_input(timestamp_ms: u64, size: u64, root: &Hash) -> [u8; 50] {
    let mut out = [0u8; 50];
    out[0] = 0;
    out[1] = 1;
    out[2..10].copy_from_slice(&timestamp_ms.to_be_bytes());
    out[10..18].copy_from_slice(&size.to_be_bytes());
    out[18..].copy_from_slice(root);
    out
}

/// RFC6962NoteSignature key ID: SHA-256(name || 0x0A || 0x05 || log_id)[:4].
pub fn note_key_id(name: &str, log_id: &Hash) -> [u8; 4] {
    let mut input = Vec::with_capacity(name.len() + 34);
    input.extend_from_slice(name.as_bytes());
    input.extend_from_slice(&[0x0a, 0x05]);
    input.extend_from_slice(log_id);
    let mut id = [0u8; 4];
    id.copy_from_slice(&sha256(&input)[..4]);
    id
}

impl Log {
    pub fn new(meta_without_key: MetaSpec, source: Source) -> Result<Self, CertGenError> {
        let key = ecdsa_key(&ECDSA_P256_SHA256_ASN1_SIGNING)?;
        let spki = ec_spki(key.public_key().as_ref(), false);
        let log_id = sha256(&spki);
        let meta = LogMeta {
            idx: meta_without_key.idx,
            kind: meta_without_key.kind,
            name: meta_without_key.name,
            key,
            spki,
            log_id,
            path: meta_without_key.path,
            submission_path: meta_without_key.submission_path,
            page_cap: meta_without_key.page_cap,
            source,
        };
        let mut state = LogState::default();
        match &meta.source {
            Source::Generated => {}
            Source::RfcReplay(entries) => push_replay(&mut state, entries.iter().map(|e| &e.info)),
            Source::StaticReplay(r) => push_replay(&mut state, r.leaves.iter()),
        }
        Ok(Log {
            meta,
            state: RwLock::new(state),
        })
    }

    pub fn state(&self) -> RwLockReadGuard<'_, LogState> {
        // A poisoned lock only means a reader panicked; the data is append-only and consistent.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Generates and sequences `count` new entries stamped `timestamp_ms`, corrupting those
    /// the fault schedule names.
    pub fn append(&self, gen: &Generator, faults: &Injector, count: u64, timestamp_ms: u64) {
        let start = self.state().sequenced();
        let entries: Vec<(Hash, Option<(usize, CorruptKind)>)> = (start..start + count)
            .map(|index| {
                let corrupt = self.corruption(faults, index);
                let kind = corrupt.map(|(_, k)| k);
                (self.leaf_hash(gen, kind, index, timestamp_ms), corrupt)
            })
            .collect();
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        for (index, (hash, corrupt)) in (start..).zip(entries) {
            state.frontier.push(hash);
            state.leaf_hashes.push(hash);
            state.timestamps.push(timestamp_ms);
            if let Some((rule, kind)) = corrupt {
                state.corrupted.push((index, kind));
                faults.count_corrupted(rule);
            }
        }
    }

    /// The corruption rule (and kind) that breaks entry `index`, if any: any kind on a generated
    /// log, only those that leave the Merkle leaf as it is on the RFC 6962 replay log.
    pub fn corruption(&self, faults: &Injector, index: u64) -> Option<(usize, CorruptKind)> {
        let found = faults.corruption(self.meta.idx, self.meta.kind, index);
        match self.meta.source {
            Source::Generated => found,
            Source::RfcReplay(_) => found.filter(|(_, k)| {
                matches!(
                    k,
                    CorruptKind::InvalidBase64
                        | CorruptKind::InvalidBase64Extra
                        | CorruptKind::BadExtraData
                )
            }),
            Source::StaticReplay(_) => None,
        }
    }

    /// Records (and counts) the corrupted entries of a replay log, which is never appended to.
    pub fn mark_replay_corruptions(&self, faults: &Injector) {
        if self.meta.grows() {
            return;
        }
        let size = self.state().sequenced();
        let found: Vec<(u64, (usize, CorruptKind))> = (0..size)
            .filter_map(|i| self.corruption(faults, i).map(|c| (i, c)))
            .collect();
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        for (index, (rule, kind)) in found {
            state.corrupted.push((index, kind));
            faults.count_corrupted(rule);
        }
    }

    /// Base64 `leaf_input` and `extra_data` of RFC 6962 replay entry `index`, as served.
    pub fn replay_entry_strings(&self, faults: &Injector, index: u64) -> Option<(String, String)> {
        let Source::RfcReplay(entries) = &self.meta.source else {
            return None;
        };
        let e = entries.get(usize::try_from(index).ok()?)?;
        let (mut leaf, mut extra) = (e.leaf_input.clone(), e.extra_data.clone());
        match self.corruption(faults, index).map(|(_, k)| k) {
            Some(CorruptKind::InvalidBase64) => faults::break_base64(&mut leaf),
            Some(CorruptKind::InvalidBase64Extra) => faults::break_base64(&mut extra),
            Some(CorruptKind::BadExtraData) => extra = STANDARD.encode(faults::broken_extra_data()),
            _ => {}
        }
        Some((leaf, extra))
    }

    /// Calls `f` with the bytes of generated entry `index`; an `undecodable_cert` corruption
    /// swaps in a certificate that is not DER (and makes the entry an x509_entry).
    fn with_entry_bytes<R>(
        &self,
        gen: &Generator,
        corrupt: Option<CorruptKind>,
        index: u64,
        timestamp_ms: u64,
        f: impl FnOnce(&EntryBytes<'_>) -> R,
    ) -> R {
        let garbage = match corrupt {
            Some(CorruptKind::UndecodableCert) => faults::undecodable_cert(self.meta.idx, index),
            _ => Vec::new(),
        };
        let g = gen.generate(self.meta.idx as u32, index, timestamp_ms);
        let mut bytes = gen.bytes(&g, timestamp_ms);
        if corrupt == Some(CorruptKind::UndecodableCert) {
            bytes.body = EntryBody::X509 { cert: &garbage };
        }
        f(&bytes)
    }

    /// The RFC 6962 `leaf_input` of generated entry `index`, as published.
    fn rfc_leaf_input(
        &self,
        bytes: &EntryBytes<'_>,
        corrupt: Option<CorruptKind>,
        index: u64,
    ) -> Vec<u8> {
        match corrupt {
            Some(CorruptKind::GarbageLeaf) => faults::garbage_leaf_input(bytes.timestamp_ms, index),
            _ => encode::merkle_tree_leaf(bytes, &[]),
        }
    }

    fn leaf_hash(
        &self,
        gen: &Generator,
        corrupt: Option<CorruptKind>,
        index: u64,
        timestamp_ms: u64,
    ) -> Hash {
        self.with_entry_bytes(gen, corrupt, index, timestamp_ms, |bytes| {
            let leaf = match self.meta.kind {
                LogType::Rfc6962 => self.rfc_leaf_input(bytes, corrupt, index),
                LogType::Static => encode::static_merkle_leaf(bytes, index),
            };
            super::merkle::leaf_hash(&leaf)
        })
    }

    /// Base64 `leaf_input` and `extra_data` of generated RFC 6962 entry `index`, as served.
    pub fn rfc_entry_strings(
        &self,
        gen: &Generator,
        faults: &Injector,
        index: u64,
        timestamp_ms: u64,
    ) -> (String, String) {
        let corrupt = self.corruption(faults, index).map(|(_, k)| k);
        self.with_entry_bytes(gen, corrupt, index, timestamp_ms, |bytes| {
            let extra = match corrupt {
                Some(CorruptKind::BadExtraData) => faults::broken_extra_data(),
                _ => encode::extra_data(bytes),
            };
            let mut leaf = STANDARD.encode(self.rfc_leaf_input(bytes, corrupt, index));
            if corrupt == Some(CorruptKind::InvalidBase64) {
                faults::break_base64(&mut leaf);
            }
            let mut extra = STANDARD.encode(extra);
            if corrupt == Some(CorruptKind::InvalidBase64Extra) {
                faults::break_base64(&mut extra);
            }
            (leaf, extra)
        })
    }

    /// Appends the TileLeaf of generated static entry `index` to `out`, as served.
    pub fn push_tile_leaf(
        &self,
        out: &mut Vec<u8>,
        gen: &Generator,
        faults: &Injector,
        index: u64,
        timestamp_ms: u64,
    ) {
        let corrupt = self.corruption(faults, index).map(|(_, k)| k);
        self.with_entry_bytes(gen, corrupt, index, timestamp_ms, |bytes| {
            encode::push_tile_leaf(out, bytes, index);
        });
    }

    /// Publishes the sequenced tree: signs an STH (RFC 6962) or checkpoints (static).
    pub fn publish(&self, now_ms: u64, origins: &[String]) {
        let size = self.state().sequenced();
        self.publish_prefix(size, now_ms, origins);
    }

    /// Publishes the tree of the first `size` sequenced entries (clamped): how the simulator
    /// shows a replay log at an earlier size.
    pub fn publish_prefix(&self, size: u64, now_ms: u64, origins: &[String]) {
        let prev_ts = self.state().published.timestamp_ms;
        // STH timestamps must not go backwards even if the wall clock does.
        let published = self.signed_head(size, None, now_ms.max(prev_ts + 1), origins);
        let size = published.size;
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        let previous = std::mem::replace(&mut state.published, published);
        // The default head before the first publication was never served; it is not history.
        if previous.timestamp_ms > 0 {
            if state.history.len() == HEAD_HISTORY {
                state.history.pop_front();
            }
            state.history.push_back(previous);
        }
        let tile = size / TILE_WIDTH;
        if tile != state.partial_tile {
            state.partial_tile = tile;
            state.partial_widths.clear();
        }
        let width = (size % TILE_WIDTH) as u16;
        if width > 0 && !state.partial_widths.contains(&width) {
            state.partial_widths.push(width);
        }
    }

    /// A tree head of the first `size` sequenced entries (clamped) with the real root, signed
    /// by the log's key over a head of `signed_size` entries when given (a signature that does
    /// not verify), else over itself.
    pub fn signed_head(
        &self,
        size: u64,
        signed_size: Option<u64>,
        timestamp_ms: u64,
        origins: &[String],
    ) -> Published {
        let (size, root) = {
            let s = self.state();
            let size = size.min(s.sequenced());
            let root = if size == s.sequenced() {
                s.frontier.root()
            } else {
                super::merkle::reference_root(&s.leaf_hashes[..size as usize])
            };
            (size, root)
        };
        let signed = signed_size.unwrap_or(size);
        let signature = self.digitally_signed(&tree_head_input(timestamp_ms, signed, &root));
        let mut published = Published {
            size,
            timestamp_ms,
            root,
            ..Published::default()
        };
        match self.meta.kind {
            LogType::Rfc6962 => published.sth_json = sth_json(&published, &signature).into(),
            LogType::Static => {
                published.checkpoints = origins
                    .iter()
                    .map(|o| checkpoint(o, &self.meta.log_id, &published, &signature).into())
                    .collect();
            }
        }
        published
    }

    /// Makes the partial data tile at the edge of a tree of `size` entries visible (a
    /// `head_size` fault served a head of that size).
    pub fn note_head_served(&self, size: u64) {
        let width = (size % TILE_WIDTH) as u16;
        if self.meta.kind != LogType::Static || width == 0 {
            return;
        }
        let key = (size / TILE_WIDTH, width);
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        if !state.served_widths.contains(&key) {
            state.served_widths.push(key);
        }
    }

    /// TLS `DigitallySigned`: SHA-256 (4), ECDSA (3), u16 length, DER signature.
    fn digitally_signed(&self, input: &[u8]) -> Vec<u8> {
        // ring signing only fails on internal RNG failure; an empty signature then makes the
        // failure visible to clients instead of crashing the simulator.
        let sig = self
            .meta
            .key
            .sign(&SystemRandom::new(), input)
            .map(|s| s.as_ref().to_vec())
            .unwrap_or_default();
        let mut out = Vec::with_capacity(sig.len() + 4);
        out.extend_from_slice(&[4, 3]);
        out.extend_from_slice(&(sig.len() as u16).to_be_bytes());
        out.extend_from_slice(&sig);
        out
    }

    /// Kind and SHA-256 of the published leaf DER of entry `index`, if sequenced.
    pub fn entry_facts(&self, gen: &Generator, index: u64) -> Option<(EntryKind, Hash)> {
        let replay = |info: &ReplayInfo| {
            (
                EntryKind::Replay {
                    precert: info.precert,
                },
                info.fingerprint,
            )
        };
        match &self.meta.source {
            Source::RfcReplay(e) => e.get(usize::try_from(index).ok()?).map(|e| replay(&e.info)),
            Source::StaticReplay(r) => r.leaves.get(usize::try_from(index).ok()?).map(replay),
            Source::Generated => {
                let ts = *self.state().timestamps.get(usize::try_from(index).ok()?)?;
                let g = gen.generate(self.meta.idx as u32, index, ts);
                Some((g.kind, sha256(&g.cert)))
            }
        }
    }
}

fn push_replay<'a>(state: &mut LogState, infos: impl Iterator<Item = &'a ReplayInfo>) {
    for info in infos {
        state.frontier.push(info.leaf_hash);
        state.leaf_hashes.push(info.leaf_hash);
    }
}

/// Identity of a log before its key exists.
pub struct MetaSpec {
    pub idx: usize,
    pub kind: LogType,
    pub name: String,
    pub path: String,
    pub submission_path: Option<String>,
    pub page_cap: u64,
}

fn sth_json(p: &Published, signature: &[u8]) -> String {
    format!(
        "{{\"tree_size\":{},\"timestamp\":{},\"sha256_root_hash\":\"{}\",\"tree_head_signature\":\"{}\"}}",
        p.size,
        p.timestamp_ms,
        STANDARD.encode(p.root),
        STANDARD.encode(signature)
    )
}

/// Signed note (tlog-checkpoint) with one RFC6962NoteSignature line; key name = origin.
pub fn checkpoint(origin: &str, log_id: &Hash, p: &Published, signature: &[u8]) -> String {
    let mut blob = Vec::with_capacity(12 + signature.len());
    blob.extend_from_slice(&note_key_id(origin, log_id));
    blob.extend_from_slice(&p.timestamp_ms.to_be_bytes());
    blob.extend_from_slice(signature);
    format!(
        "{origin}\n{}\n{}\n\n\u{2014} {origin} {}\n",
        p.size,
        STANDARD.encode(p.root),
        STANDARD.encode(blob)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_layout_matches_the_real_rome_checkpoint() {
        // Rebuild the real checkpoint from its parts: same bytes except the signature itself.
        let real = std::fs::read_to_string(
            super::super::fixtures::default_dir()
                .join("static-ct/skylight-test-rome2026h1/checkpoint"),
        )
        .unwrap();
        let log_id: Hash = STANDARD
            .decode("CKIDXIl+znJaHUyhzhNVaSxIUov59RCXLh3fJXJExnk=")
            .unwrap()
            .try_into()
            .unwrap();
        let mut root = [0u8; 32];
        root.copy_from_slice(
            &STANDARD
                .decode("lCkHUpkmVBEms2r2T1K6Og69+wUuuN3MIEW1/ezu2v0=")
                .unwrap(),
        );
        let p = Published {
            size: 300,
            timestamp_ms: 1_767_139_200_000,
            root,
            ..Published::default()
        };
        let sig_line = real.lines().nth(4).unwrap();
        let blob = STANDARD
            .decode(sig_line.rsplit(' ').next().unwrap())
            .unwrap();
        let ours = checkpoint("rome2026h1.example.org", &log_id, &p, &blob[12..]);
        assert_eq!(ours, real);
        assert_eq!(
            note_key_id("rome2026h1.example.org", &log_id),
            [0x91, 0x50, 0x75, 0x26]
        );
    }
}
