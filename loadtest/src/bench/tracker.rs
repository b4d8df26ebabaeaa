//! Loss tracking: for each client and each log (`source.url`), the next `cert_index` expected.
//!
//! A server streams each log's entries in index order, so a client that misses nothing sees
//! every index exactly once, increasing by one. [`LogTrack::on_index`] counts a jump forward as
//! `missing` (the skipped indexes, kept as ranges), an index that fills one of those ranges as
//! `out_of_order` (it is no longer missing), and any other index at or below one already
//! passed as `repeated`. Entries the server must skip (ones the simulator corrupted for good)
//! are only known at the end: [`LogTrack::verdict`] takes them out of the missing count and
//! reports any that were delivered anyway. URLs are interned per worker thread by [`Interner`]
//! so the per-message cost is one hash of the URL bytes and a vector index.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::limits::{TRACKED_GAPS_MAX, TRACKED_LOGS_MAX};
use super::scan::unescape_url;

/// One client's view of one log.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LogTrack {
    /// First index this client counted from (its own first message, or the given start).
    pub start: Option<u64>,
    /// Next index expected.
    pub expected: u64,
    /// Messages accepted (in order, or late into a gap).
    pub received: u64,
    /// Indexes jumped over and not delivered since.
    pub missing: u64,
    /// Messages at an index already delivered.
    pub repeated: u64,
    /// Messages that arrived after a later index (they filled a gap).
    pub out_of_order: u64,
    /// Messages below an explicitly given start (delivered before the checked range).
    pub before_start: u64,
    /// The missing indexes as half-open ranges, in index order; at most [`TRACKED_GAPS_MAX`].
    #[serde(skip)]
    gaps: Vec<(u64, u64)>,
    /// Gaps not recorded because the list was full: `missing` stays exact, but those indexes
    /// cannot be told apart from skips or late arrivals.
    pub gaps_untracked: u64,
}

/// How one client did on one log over `[start, target)`, given the indexes the server had to
/// skip.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Indexes neither delivered nor expected to be skipped (gaps and not reached).
    pub missing: u64,
    pub repeated: u64,
    pub out_of_order: u64,
    /// Expected skips in the checked range that were indeed not delivered.
    pub skipped: u64,
    /// Expected skips that were delivered anyway.
    pub delivered_but_skip_expected: u64,
}

impl Verdict {
    pub fn clean(&self) -> bool {
        self.missing == 0
            && self.repeated == 0
            && self.out_of_order == 0
            && self.delivered_but_skip_expected == 0
    }
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
            self.record_gap(self.expected, idx);
            self.missing += idx - self.expected;
            self.received += 1;
            self.expected = idx.saturating_add(1);
        } else if self.fill_gap(idx) {
            self.missing -= 1;
            self.out_of_order += 1;
            self.received += 1;
        } else {
            self.repeated += 1;
        }
    }

    fn record_gap(&mut self, from: u64, to: u64) {
        if self.gaps.len() < TRACKED_GAPS_MAX {
            self.gaps.push((from, to));
        } else {
            self.gaps_untracked += to - from;
        }
    }

    /// Takes `idx` out of the gap holding it; false when no gap holds it.
    fn fill_gap(&mut self, idx: u64) -> bool {
        let i = self.gaps.partition_point(|&(_, end)| end <= idx);
        let Some(&(from, to)) = self.gaps.get(i) else {
            return false;
        };
        if idx < from {
            return false;
        }
        match (idx == from, idx + 1 == to) {
            (true, true) => {
                self.gaps.remove(i);
            }
            (true, false) => self.gaps[i].0 = idx + 1,
            (false, true) => self.gaps[i].1 = idx,
            (false, false) => {
                self.gaps[i].1 = idx;
                self.gaps.insert(i + 1, (idx + 1, to));
            }
        }
        true
    }

    /// Whether `idx` lies in a recorded gap (was jumped over and never delivered).
    fn in_gap(&self, idx: u64) -> bool {
        let i = self.gaps.partition_point(|&(_, end)| end <= idx);
        self.gaps.get(i).is_some_and(|&(from, _)| idx >= from)
    }

    /// How many of the sorted `skips` lie in recorded gaps: jumped over, and rightly so.
    pub fn skips_in_gaps(&self, skips: &[u64]) -> u64 {
        skips.iter().filter(|&&s| self.in_gap(s)).count() as u64
    }

    /// Indexes in `[start, target)` this client has not reached yet (tail loss).
    pub fn tail_missing(&self, target: u64) -> u64 {
        target.saturating_sub(self.expected.max(self.start.unwrap_or(0)))
    }

    /// True once the client has everything below `target` that it can get: every index but
    /// those in `skips` (sorted).
    pub fn reached(&self, target: u64, skips: &[u64]) -> bool {
        let Some(start) = self.start else {
            return false;
        };
        let from = self.expected.max(start);
        from >= target || count_in(skips, from, target) == target - from
    }

    /// The outcome over `[start, target)` given the sorted indexes the server had to skip.
    pub fn verdict(&self, target: u64, skips: &[u64]) -> Verdict {
        let start = self.start.unwrap_or(0);
        let reached = self.expected.max(start);
        let mut v = Verdict {
            repeated: self.repeated,
            out_of_order: self.out_of_order,
            ..Verdict::default()
        };
        for &s in &skips[lower(skips, start)..lower(skips, target)] {
            if s >= reached || self.in_gap(s) {
                v.skipped += 1;
            } else {
                v.delivered_but_skip_expected += 1;
            }
        }
        // Gaps can lie past `target` (the client read on after the window); every skip in a
        // gap excuses one missing index wherever it is.
        let tail = target.saturating_sub(reached);
        let tail_skips = count_in(skips, reached, target);
        v.missing = (self.missing - self.skips_in_gaps(skips)) + (tail - tail_skips);
        v
    }
}

/// Position of the first element ≥ `x` in sorted `v`.
fn lower(v: &[u64], x: u64) -> usize {
    v.partition_point(|&e| e < x)
}

/// Elements of sorted `v` in `[from, to)`.
fn count_in(v: &[u64], from: u64, to: u64) -> u64 {
    if to <= from {
        return 0;
    }
    (lower(v, to) - lower(v, from)) as u64
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
        assert!(t.reached(200, &[]));
        assert!(!t.reached(201, &[]));
        assert!(t.reached(202, &[200, 201]), "the rest is skipped");
        assert_eq!(t.tail_missing(205), 5);
        assert!(t.verdict(200, &[]).clean());
    }

    #[test]
    fn gaps_repeats_and_late_arrivals_are_told_apart() {
        let mut t = LogTrack::new(None);
        for i in [5, 6, 9, 9, 7, 10, 6] {
            t.on_index(i);
        }
        assert_eq!(t.missing, 1, "8 never came");
        assert_eq!(t.out_of_order, 1, "7 came after 9");
        assert_eq!(t.repeated, 2, "9 and 6 twice");
        assert_eq!(t.expected, 11);
        let v = t.verdict(11, &[]);
        assert_eq!((v.missing, v.repeated, v.out_of_order), (1, 2, 1));
        assert!(!v.clean());
    }

    #[test]
    fn a_late_index_splits_its_gap() {
        let mut t = LogTrack::new(Some(0));
        for i in [0, 10, 5, 1, 9, 11] {
            t.on_index(i);
        }
        assert_eq!((t.missing, t.out_of_order), (6, 3));
        assert_eq!(t.gaps, vec![(2, 5), (6, 9)]);
        t.on_index(5);
        assert_eq!(t.repeated, 1, "5 was already filled");
    }

    #[test]
    fn expected_skips_are_not_missing_but_must_not_arrive() {
        let mut t = LogTrack::new(Some(10));
        for i in (10..30).filter(|i| ![13, 17, 29].contains(i)) {
            t.on_index(i);
        }
        assert_eq!(t.missing, 2, "13 and 17 jumped over; 29 not reached yet");
        assert!(!t.reached(30, &[13]));
        assert!(t.reached(30, &[13, 17, 29]), "only skips are left");
        let v = t.verdict(30, &[5, 13, 17, 29, 40]);
        assert_eq!(v.skipped, 3, "5 and 40 are outside [10, 30)");
        assert!(v.clean(), "{v:?}");
        let v = t.verdict(30, &[13]);
        assert_eq!(v.missing, 2, "17 and 29 are not excused");
        let v = t.verdict(30, &[12, 13, 17, 29]);
        assert_eq!(v.delivered_but_skip_expected, 1, "12 arrived");
        assert!(!v.clean());
    }

    #[test]
    fn gap_list_is_bounded() {
        let mut t = LogTrack::new(Some(0));
        for k in 0..(TRACKED_GAPS_MAX as u64 + 10) {
            t.on_index(2 * k + 1);
        }
        assert_eq!(t.gaps.len(), TRACKED_GAPS_MAX);
        assert_eq!(t.gaps_untracked, 10);
        assert_eq!(t.missing, TRACKED_GAPS_MAX as u64 + 10);
    }

    #[test]
    fn explicit_start_counts_head_loss_and_ignores_earlier() {
        let mut t = LogTrack::new(Some(10));
        t.on_index(8);
        t.on_index(12);
        assert_eq!((t.before_start, t.missing, t.received), (1, 2, 1));
        let never = LogTrack::new(Some(10));
        assert_eq!(never.tail_missing(15), 5);
        assert!(!never.reached(15, &[]));
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
