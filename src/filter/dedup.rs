//! The per-core memory of recently seen certificates and issuances for `dedup=`.
//!
//! Each core keeps its own window (no lock, no cross-core traffic): every core sees every
//! entry, so each decides alone which copy came first. Keys are the first 8 bytes of a SHA-256
//! (leaf DER for `cert`, TBS without poison and SCT list for `issuance`): at the bound of
//! [`crate::limits::DEDUP_KEYS_MAX`] keys the chance that two different certificates share a
//! key is about keys² / 2⁶⁵ (≈ 4·10⁻⁷), and such a collision only hides one message from the
//! clients that asked for dedup.

use std::collections::{HashSet, VecDeque};

/// What a certificate duplicates, seen from one core (first seen wins).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dup {
    /// The same leaf (SHA-256) was seen within the window (another log, or the same log again).
    pub cert: bool,
    /// The same issuance (precertificate and final certificate, or the same certificate) was
    /// seen within the window.
    pub issuance: bool,
}

/// Keys seen within the window, oldest first, bounded in count.
#[derive(Debug)]
pub struct DedupWindow {
    keys: HashSet<u64>,
    /// (key, seen second) in insertion order: expiry pops from the front.
    order: VecDeque<(u64, u32)>,
    window_secs: u32,
    keys_max: usize,
}

/// Issuance keys live in the same set as certificate keys, told apart by this mask.
const ISSUANCE_TAG: u64 = 0x9e37_79b9_7f4a_7c15;

fn key64(hash: &[u8; 32]) -> u64 {
    let mut k = [0u8; 8];
    k.copy_from_slice(&hash[..8]);
    u64::from_le_bytes(k)
}

impl DedupWindow {
    pub fn new(window_secs: u32, keys_max: usize) -> Self {
        DedupWindow {
            keys: HashSet::new(),
            order: VecDeque::new(),
            window_secs,
            keys_max: keys_max.max(2),
        }
    }

    /// Changes the window (`--dedup-window`); applies from the next entry.
    pub fn set_window(&mut self, window_secs: u32) {
        self.window_secs = window_secs;
    }

    /// Records one entry seen at `seen_secs` and says what it duplicates.
    pub fn observe(
        &mut self,
        leaf_sha256: &[u8; 32],
        issuance_key: Option<&[u8; 32]>,
        seen_secs: u32,
    ) -> Dup {
        self.expire(seen_secs);
        let cert = !self.remember(key64(leaf_sha256), seen_secs);
        let issuance = match issuance_key {
            Some(k) => !self.remember(key64(k) ^ ISSUANCE_TAG, seen_secs) || cert,
            None => cert,
        };
        Dup { cert, issuance }
    }

    /// Inserts `key`; false when it was already there.
    fn remember(&mut self, key: u64, seen_secs: u32) -> bool {
        if self.keys.contains(&key) {
            return false;
        }
        // Make room first, so the ring never grows past the bound (it doubles when it grows).
        while self.order.len() >= self.keys_max {
            self.forget_oldest();
        }
        self.keys.insert(key);
        self.order.push_back((key, seen_secs));
        true
    }

    fn expire(&mut self, now_secs: u32) {
        let cutoff = now_secs.saturating_sub(self.window_secs);
        while self.order.front().is_some_and(|&(_, t)| t < cutoff) {
            self.forget_oldest();
        }
    }

    fn forget_oldest(&mut self) {
        if let Some((key, _)) = self.order.pop_front() {
            self.keys.remove(&key);
        }
    }

    /// Keys remembered now.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Heap bytes held now (set buckets plus control bytes, and the order ring).
    pub fn heap_bytes(&self) -> usize {
        self.keys.capacity() * (std::mem::size_of::<u64>() + 1)
            + self.order.capacity() * std::mem::size_of::<(u64, u32)>()
    }
}
