//! Loss tracking: for each client and each log (`source.url`), the next `cert_index` expected.
//!
//! A server streams each log's entries in index order, so a client that misses nothing sees
//! every index exactly once, increasing by one. [`LogTrack::on_index`] counts a jump forward as
//! `missing` (the skipped indexes) and anything at or below an index already passed as
//! `repeated` (a duplicate or an out-of-order delivery). URLs are interned per worker thread by
//! [`Interner`] so the per-message cost is one hash of the URL bytes and a vector index.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::limits::TRACKED_LOGS_MAX;
use super::scan::unescape_url;

/// One client's view of one log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LogTrack {
    /// First index this client counted from (its own first message, or the given start).
    pub start: Option<u64>,
    /// Next index expected.
    pub expected: u64,
    /// Messages accepted in order.
    pub received: u64,
    /// Indexes skipped over.
    pub missing: u64,
    /// Messages at an index already passed (duplicates or out of order).
    pub repeated: u64,
    /// Messages below an explicitly given start (delivered before the checked range).
    pub before_start: u64,
}

impl LogTrack {
    /// A tracker that counts from `start` when given, else from the first index seen.
    pub fn new(start: Option<u64>) -> Self {
        LogTrack {
            start,
            expected: start.unwrap_or(0),
            ..Default::default()
        }
    }

    /// Accounts one delivered index.
    pub fn on_index(&mut self, idx: u64) {
        match self.start {
            None => {
                self.start = Some(idx);
                self.expected = idx;
            }
            Some(s) if idx < s && self.received == 0 && self.missing == 0 => {
                self.before_start += 1;
                return;
            }
            Some(_) => {}
        }
        if idx == self.expected {
            self.received += 1;
            self.expected = idx.saturating_add(1);
        } else if idx > self.expected {
            self.missing += idx - self.expected;
            self.received += 1;
            self.expected = idx.saturating_add(1);
        } else {
            self.repeated += 1;
        }
    }

    /// Indexes in `[start, target)` this client has not reached yet (tail loss).
    pub fn tail_missing(&self, target: u64) -> u64 {
        target.saturating_sub(self.expected.max(self.start.unwrap_or(0)))
    }

    /// True once the client has everything below `target`.
    pub fn reached(&self, target: u64) -> bool {
        self.start.is_some() && self.expected >= target
    }
}

/// FxHash (rustc's hasher): a multiply-rotate hash, several times faster than SipHash on short
/// keys. Keys come from the server under test, but the interner is capped, so a hostile server
/// can at worst slow itself down.
#[derive(Default)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Interns raw `source.url` bytes to small ids (per worker thread).
#[derive(Default)]
pub struct Interner {
    ids: HashMap<Box<[u8]>, u32, BuildHasherDefault<FxHasher>>,
    names: Vec<String>,
}

impl Interner {
    /// The id of `raw`, adding it if new; `None` when the cap is reached.
    pub fn id(&mut self, raw: &[u8]) -> Option<u32> {
        if let Some(&id) = self.ids.get(raw) {
            return Some(id);
        }
        if self.names.len() >= TRACKED_LOGS_MAX {
            return None;
        }
        let id = self.names.len() as u32;
        self.ids.insert(raw.into(), id);
        self.names.push(canonical_url(&unescape_url(raw)));
        Some(id)
    }

    /// The canonical URL of an id.
    pub fn name(&self, id: u32) -> &str {
        self.names
            .get(id as usize)
            .map(String::as_str)
            .unwrap_or("")
    }

    /// Number of interned URLs.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when nothing was interned.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// URL form used to match the server's `source.url` with the simulator's URLs: without a
/// trailing slash (servers differ in whether they keep it).
pub fn canonical_url(url: &str) -> String {
    url.trim_end_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_stream_has_no_loss() {
        let mut t = LogTrack::new(None);
        for i in 100..200 {
            t.on_index(i);
        }
        assert_eq!((t.received, t.missing, t.repeated), (100, 0, 0));
        assert!(t.reached(200));
        assert!(!t.reached(201));
        assert_eq!(t.tail_missing(205), 5);
    }

    #[test]
    fn gaps_and_repeats_are_counted() {
        let mut t = LogTrack::new(None);
        for i in [5, 6, 9, 9, 7, 10] {
            t.on_index(i);
        }
        assert_eq!(t.missing, 2); // 7 and 8 skipped
        assert_eq!(t.repeated, 2); // 9 again, 7 late
        assert_eq!(t.expected, 11);
    }

    #[test]
    fn explicit_start_counts_head_loss_and_ignores_earlier() {
        let mut t = LogTrack::new(Some(10));
        t.on_index(8);
        t.on_index(12);
        assert_eq!((t.before_start, t.missing, t.received), (1, 2, 1));
        let never = LogTrack::new(Some(10));
        assert_eq!(never.tail_missing(15), 5);
        assert!(!never.reached(15));
    }

    #[test]
    fn interner_is_stable_and_capped() {
        let mut i = Interner::default();
        let a = i.id(b"http:\\/\\/a\\/").unwrap();
        assert_eq!(i.id(b"http:\\/\\/a\\/"), Some(a));
        assert_eq!(i.name(a), "http://a");
        for n in 0..TRACKED_LOGS_MAX + 10 {
            let _ = i.id(format!("u{n}").as_bytes());
        }
        assert_eq!(i.len(), TRACKED_LOGS_MAX);
        assert_eq!(i.id(b"fresh"), None);
    }
}
