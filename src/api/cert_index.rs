//! One executor's index of the certificates it published: hash → where each appeared (log,
//! index, first seen), bounded by count, oldest evicted first. Single writer (the executor's
//! publishing path), `!Send`, no lock.
//!
//! # Shape
//!
//! Records sit in a ring in publishing order, each with a sequence number (never reused) and
//! the first 8 bytes of its SHA-256 and SHA-1. Two maps send the first 4 of those bytes to the
//! NEWEST record with that key; each record links to the previous record with the same key
//! (as a distance back), so every appearance of a certificate is a walk from the newest record
//! of its key, keeping the records whose 8 bytes match. Evicting the oldest record removes a
//! map entry only when that record is still the newest of its key: a link to an evicted record
//! is recognised by its sequence number falling before the ring's first. Map keys and values
//! are `u32` (a sequence number is stored modulo 2^32: live ones span less than the capacity),
//! which halves the tables, the larger part of the memory under eviction churn.
//!
//! Lookups match on 64 bits of the hash: the caller verifies the entry it returns against the
//! full hash read from the store; the other positions listed are matched on those 64 bits
//! (a wrong one among a million entries has odds of about 1 in 10^13). A walk visits at most
//! [`WALK_STEPS_PER_POSITION`] records per position it may return, so certificates crafted to
//! share a 4-byte key cannot make a lookup walk the whole index.

use std::{
    cell::RefCell,
    collections::{HashMap, VecDeque},
};

use crate::frame::EntryMeta;

/// A certificate hash as a client gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertHash {
    /// SHA-256 of the leaf DER (`sha256` in the messages).
    Sha256([u8; 32]),
    /// SHA-1 of the leaf DER (`sha1` and `fingerprint` in the messages).
    Sha1([u8; 20]),
}

/// Why a hash in a request was refused (answered with 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashError {
    /// A character other than a hex digit or a colon (`%3A` counts as a colon).
    NotHex,
    /// Neither 40 (SHA-1) nor 64 (SHA-256) hex digits.
    Length(usize),
}

impl std::fmt::Display for HashError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HashError::NotHex => {
                f.write_str("the hash must be hex digits, optionally colon-separated")
            }
            HashError::Length(n) => write!(
                f,
                "the hash must be 64 hex digits (SHA-256) or 40 (SHA-1, the fingerprint); got {n}"
            ),
        }
    }
}

impl CertHash {
    /// Parses hex in any case, with or without colons (also percent-encoded as `%3A`).
    pub fn parse(text: &str) -> Result<CertHash, HashError> {
        let text = text.replace("%3A", ":").replace("%3a", ":");
        let mut nibbles = Vec::with_capacity(64);
        for c in text.bytes() {
            if c != b':' {
                nibbles.push(hex_value(c).ok_or(HashError::NotHex)?);
            }
            // Past the longest hash: no need to read a hostile path to its end.
            if nibbles.len() > 64 {
                return Err(HashError::Length(nibbles.len()));
            }
        }
        let bytes: Vec<u8> = nibbles
            .chunks(2)
            .map(|p| p[0] << 4 | p.get(1).copied().unwrap_or(0))
            .collect();
        match nibbles.len() {
            64 => Ok(CertHash::Sha256(
                bytes.try_into().map_err(|_| HashError::Length(64))?,
            )),
            40 => Ok(CertHash::Sha1(
                bytes.try_into().map_err(|_| HashError::Length(40))?,
            )),
            n => Err(HashError::Length(n)),
        }
    }

    /// The first 8 bytes, the index's key.
    fn prefix(&self) -> u64 {
        match self {
            CertHash::Sha256(h) => prefix_of(h),
            CertHash::Sha1(h) => prefix_of(h),
        }
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn prefix_of(hash: &[u8]) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash[..8]);
    u64::from_be_bytes(first)
}

/// Where a certificate appeared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The log's key in the store (see [`crate::replay::token::log_key`]).
    pub log_key: [u8; 8],
    pub index: u64,
    /// When this server first saw it (`seen`), microseconds since the epoch.
    pub seen_us: u64,
}

/// Records a walk may visit per position it may return (see the module docs).
pub const WALK_STEPS_PER_POSITION: usize = 4;

/// The map key of an 8-byte prefix: its first 4 bytes.
fn key_of(prefix: u64) -> u32 {
    (prefix >> 32) as u32
}

/// One indexed appearance; 48 bytes.
#[derive(Debug, Clone, Copy)]
struct Record {
    sha256: u64,
    sha1: u64,
    log_key: [u8; 8],
    index: u64,
    seen_us: u64,
    /// Distance back to the previous record with the same SHA-256 key (0: none).
    prev_sha256: u32,
    /// The same for the SHA-1 key.
    prev_sha1: u32,
}

#[derive(Debug, Default)]
struct Inner {
    records: VecDeque<Record>,
    /// Sequence number of `records[0]`.
    first_seq: u64,
    /// Key → the newest record's sequence number modulo 2^32.
    by_sha256: HashMap<u32, u32>,
    by_sha1: HashMap<u32, u32>,
}

/// See the module docs.
#[derive(Debug)]
pub struct CertIndex {
    capacity: usize,
    inner: RefCell<Inner>,
}

impl CertIndex {
    /// An empty index of at most `capacity` records (at least one); memory grows with use.
    pub fn new(capacity: usize) -> CertIndex {
        CertIndex {
            capacity: capacity.clamp(1, u32::MAX as usize),
            inner: RefCell::default(),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Records held now.
    pub fn len(&self) -> usize {
        self.inner.borrow().records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Indexes one published certificate, evicting the oldest record when full.
    pub fn record(&self, meta: &EntryMeta) {
        let mut inner = self.inner.borrow_mut();
        if inner.records.len() >= self.capacity {
            inner.evict_oldest();
        }
        inner.grow_within(self.capacity);
        let seq = inner.first_seq + inner.records.len() as u64;
        let sha256 = prefix_of(&meta.leaf_sha256);
        let sha1 = prefix_of(&meta.leaf_sha1);
        // Map values are live (an evicted newest is removed), so the distance is below the
        // capacity.
        let newest_256 = inner.by_sha256.insert(key_of(sha256), seq as u32);
        let newest_1 = inner.by_sha1.insert(key_of(sha1), seq as u32);
        let link = |prev: Option<u32>| prev.map_or(0, |p| (seq as u32).wrapping_sub(p));
        let record = Record {
            sha256,
            sha1,
            log_key: meta.log_key,
            index: meta.index,
            seen_us: meta.seen_us,
            prev_sha256: link(newest_256),
            prev_sha1: link(newest_1),
        };
        inner.records.push_back(record);
    }

    /// Every held appearance of `hash`, newest first, at most `max`; one per (log, index).
    pub fn find(&self, hash: &CertHash, max: usize) -> Vec<Position> {
        let inner = self.inner.borrow();
        let prefix = hash.prefix();
        let (map, is_sha256) = match hash {
            CertHash::Sha256(_) => (&inner.by_sha256, true),
            CertHash::Sha1(_) => (&inner.by_sha1, false),
        };
        let mut out: Vec<Position> = Vec::new();
        let mut seq = map.get(&key_of(prefix)).map(|&v| inner.seq_of(v));
        let mut steps = max.saturating_mul(WALK_STEPS_PER_POSITION);
        while let Some(s) = seq.filter(|_| out.len() < max && steps > 0) {
            steps -= 1;
            let Some(record) = s
                .checked_sub(inner.first_seq)
                .and_then(|at| inner.records.get(at as usize))
            else {
                break;
            };
            let (record_prefix, back) = if is_sha256 {
                (record.sha256, record.prev_sha256)
            } else {
                (record.sha1, record.prev_sha1)
            };
            seq = (back != 0).then(|| s - u64::from(back));
            debug_assert_eq!(
                key_of(record_prefix),
                key_of(prefix),
                "a chain links one key"
            );
            let seen = out
                .iter()
                .any(|p| p.log_key == record.log_key && p.index == record.index);
            if record_prefix == prefix && !seen {
                out.push(Position {
                    log_key: record.log_key,
                    index: record.index,
                    seen_us: record.seen_us,
                });
            }
        }
        out
    }

    /// Heap bytes the index holds now (records and both maps' tables), for sizing.
    pub fn heap_bytes(&self) -> usize {
        let inner = self.inner.borrow();
        let slot = std::mem::size_of::<(u32, u32)>() + 1;
        inner.records.capacity() * std::mem::size_of::<Record>()
            + (table_buckets(inner.by_sha256.capacity()) + table_buckets(inner.by_sha1.capacity()))
                * slot
    }
}

/// hashbrown's bucket count for a table that reports `capacity` (7/8 load, power of two).
fn table_buckets(capacity: usize) -> usize {
    if capacity == 0 {
        0
    } else if capacity < 8 {
        (capacity + 1).next_power_of_two()
    } else {
        (capacity * 8 / 7).next_power_of_two()
    }
}

impl Inner {
    /// The sequence number of a live record from its value modulo 2^32.
    fn seq_of(&self, value: u32) -> u64 {
        self.first_seq + u64::from(value.wrapping_sub(self.first_seq as u32))
    }

    fn evict_oldest(&mut self) {
        let Some(old) = self.records.pop_front() else {
            return;
        };
        let seq = self.first_seq as u32;
        self.first_seq += 1;
        // Only the newest record of a key is in a map; an older one is reached by links,
        // which now end before the ring's start.
        for (map, key) in [
            (&mut self.by_sha256, key_of(old.sha256)),
            (&mut self.by_sha1, key_of(old.sha1)),
        ] {
            if map.get(&key) == Some(&seq) {
                map.remove(&key);
            }
        }
    }

    /// Doubles the ring's room when full, never past `capacity` (the last step is exact).
    fn grow_within(&mut self, capacity: usize) {
        let len = self.records.len();
        if len < self.records.capacity() {
            return;
        }
        let more = len.max(64).min(capacity.saturating_sub(len)).max(1);
        self.records.reserve_exact(more);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(cert: u8, log: u8, index: u64) -> EntryMeta {
        EntryMeta {
            log_key: [log; 8],
            index,
            seen_us: 1_000 + index,
            leaf_sha256: [cert; 32],
            leaf_sha1: [cert ^ 0xff; 20],
            ..EntryMeta::default()
        }
    }

    fn at(log: u8, index: u64) -> Position {
        Position {
            log_key: [log; 8],
            index,
            seen_us: 1_000 + index,
        }
    }

    #[test]
    fn hashes_parse_in_any_case_with_or_without_colons() {
        let sha256 = "AB".repeat(32);
        let colons = vec!["ab"; 32].join(":");
        let encoded = vec!["Ab"; 32].join("%3A");
        for text in [sha256.as_str(), colons.as_str(), encoded.as_str()] {
            assert_eq!(
                CertHash::parse(text),
                Ok(CertHash::Sha256([0xab; 32])),
                "{text}"
            );
        }
        assert_eq!(
            CertHash::parse(&"0f".repeat(20)),
            Ok(CertHash::Sha1([0x0f; 20]))
        );
        assert_eq!(CertHash::parse(""), Err(HashError::Length(0)));
        assert_eq!(CertHash::parse(&"a".repeat(63)), Err(HashError::Length(63)));
        assert_eq!(
            CertHash::parse(&"a".repeat(500)),
            Err(HashError::Length(65))
        );
        assert_eq!(CertHash::parse(&"g".repeat(64)), Err(HashError::NotHex));
        assert_eq!(CertHash::parse("ab/cd"), Err(HashError::NotHex));
        assert_eq!(CertHash::parse("é"), Err(HashError::NotHex));
    }

    #[test]
    fn every_appearance_is_found_newest_first_by_either_hash() {
        let index = CertIndex::new(100);
        index.record(&meta(1, 1, 10));
        index.record(&meta(2, 1, 11));
        index.record(&meta(1, 2, 500));
        index.record(&meta(1, 1, 10)); // re-streamed after a restart: listed once
        let by_sha256 = index.find(&CertHash::Sha256([1; 32]), 10);
        assert_eq!(by_sha256, vec![at(1, 10), at(2, 500)]);
        assert_eq!(index.find(&CertHash::Sha1([0xfe; 20]), 10), by_sha256);
        assert_eq!(index.find(&CertHash::Sha256([2; 32]), 10), vec![at(1, 11)]);
        assert_eq!(index.find(&CertHash::Sha256([3; 32]), 10), vec![]);
        assert_eq!(index.find(&CertHash::Sha256([1; 32]), 1), vec![at(1, 10)]);
    }

    #[test]
    fn the_oldest_records_leave_first_and_their_links_end_there() {
        let index = CertIndex::new(3);
        index.record(&meta(1, 1, 1));
        index.record(&meta(1, 2, 2));
        index.record(&meta(2, 1, 3));
        index.record(&meta(1, 3, 4)); // evicts (1, 1)
        assert_eq!(index.len(), 3);
        assert_eq!(
            index.find(&CertHash::Sha256([1; 32]), 10),
            vec![at(3, 4), at(2, 2)]
        );
        index.record(&meta(3, 1, 5)); // evicts (2, 2)
        index.record(&meta(3, 1, 6)); // evicts (2, 1, 3): cert 2 is gone
        assert_eq!(index.find(&CertHash::Sha256([2; 32]), 10), vec![]);
        assert_eq!(index.find(&CertHash::Sha256([1; 32]), 10), vec![at(3, 4)]);
        for i in 7..1000 {
            index.record(&meta((i % 5) as u8, 1, i));
        }
        assert_eq!(index.len(), 3);
        assert!(index.maps_hold_at_most_the_records());
        assert_eq!(index.find(&CertHash::Sha256([1; 32]), 10), vec![]);
        assert_eq!(index.find(&CertHash::Sha256([4; 32]), 10), vec![at(1, 999)]);
    }

    /// Certificates whose hashes share the 4-byte map key are told apart by their 8 bytes,
    /// and a walk through many of them stops at its step bound.
    #[test]
    fn certificates_sharing_a_key_are_told_apart() {
        let index = CertIndex::new(1000);
        let with_tail = |tail: u8, index: u64| {
            let mut m = meta(9, 1, index);
            m.leaf_sha256[4] = tail;
            m
        };
        index.record(&with_tail(1, 1));
        index.record(&with_tail(2, 2));
        index.record(&with_tail(1, 3));
        let mut one = [9; 32];
        one[4] = 1;
        assert_eq!(
            index.find(&CertHash::Sha256(one), 10),
            vec![at(1, 3), at(1, 1)]
        );
        for i in 10..500 {
            index.record(&with_tail(2, i));
        }
        // 490 newer records of the same key: more than a walk for 10 positions may visit.
        assert_eq!(index.find(&CertHash::Sha256(one), 10), vec![]);
        assert_eq!(index.find(&CertHash::Sha256(one), 1000).len(), 2);
        let mut two = one;
        two[4] = 2;
        assert_eq!(index.find(&CertHash::Sha256(two), 10).len(), 10);
    }

    impl CertIndex {
        fn maps_hold_at_most_the_records(&self) -> bool {
            let inner = self.inner.borrow();
            let n = inner.records.len();
            inner.by_sha256.len() <= n && inner.by_sha1.len() <= n
        }
    }

    /// The figure in `limits::CERT_INDEX_BYTES_PER_ENTRY`, measured on a full index of
    /// distinct certificates after every record was replaced once (eviction churn leaves
    /// tombstones that make the maps double once, then they stay). Most certificates appear
    /// in two or three logs, which only makes the maps smaller.
    #[test]
    fn memory_per_entry_is_what_limits_says() {
        // A sixteenth of the bound has the same table buckets per entry (their counts are
        // powers of two) and takes a sixteenth of the time.
        let n = crate::limits::CERT_INDEX_ENTRIES_MAX / 16;
        let index = CertIndex::new(n);
        let mut m = meta(0, 1, 0);
        for i in 0..2 * n as u64 {
            m.index = i;
            m.leaf_sha256[..8].copy_from_slice(&i.to_le_bytes());
            m.leaf_sha1[..8].copy_from_slice(&(!i).to_le_bytes());
            index.record(&m);
        }
        assert_eq!(index.len(), n);
        let per_entry = index.heap_bytes() / n;
        let stated = crate::limits::CERT_INDEX_BYTES_PER_ENTRY;
        assert!(
            per_entry <= stated && per_entry * 5 / 4 >= stated,
            "measured {per_entry} bytes per entry, limits says {stated}"
        );
    }
}
