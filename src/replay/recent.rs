//! The replay store's memory tier: the frames a core published in the last minutes, per log,
//! so a client back from a short absence replays from memory without a disk read.
//!
//! Each core keeps what its own hub published (every core sees every certificate), as the
//! same `Arc<Frames>` the hub holds: no copy. The bound is the bytes of the frames held,
//! [`limits::REPLAY_MEMORY_BYTES`] per core; the oldest entries go first. A log's entries are
//! in index order (a log's pages reach a core through one ring, in order), with holes where a
//! ring dropped a batch: a read stops at a hole, and the session reads the rest from the disk
//! store, which has everything.

use std::{
    cell::RefCell,
    collections::{HashMap, VecDeque},
    sync::Arc,
};

use crate::{frame::Frames, limits, replay::token::LogKey};

/// Recent frames of every log, bounded by bytes. `!Send`: one per core.
#[derive(Debug)]
pub struct RecentFrames {
    inner: RefCell<Inner>,
    bytes_max: usize,
}

#[derive(Debug, Default)]
struct Inner {
    by_log: HashMap<LogKey, VecDeque<Arc<Frames>>>,
    /// Logs in the order their entries came: evicting from the front evicts the oldest.
    order: VecDeque<LogKey>,
    bytes: usize,
}

fn size_of(frames: &Frames) -> usize {
    frames.lite.len() + frames.full.len() + frames.domains.len()
}

impl Default for RecentFrames {
    fn default() -> Self {
        RecentFrames::new(limits::REPLAY_MEMORY_BYTES)
    }
}

impl RecentFrames {
    pub fn new(bytes_max: usize) -> Self {
        RecentFrames {
            inner: RefCell::default(),
            bytes_max,
        }
    }

    /// Keeps a published certificate; the oldest go past the bound. An entry at or below the
    /// newest held index of its log (a page fetched again after a restart) is not kept twice.
    pub fn record(&self, frames: &Arc<Frames>) {
        let meta = &frames.meta;
        let mut inner = self.inner.borrow_mut();
        let log = inner.by_log.entry(meta.log_key).or_default();
        if log.back().is_some_and(|last| last.meta.index >= meta.index) {
            return;
        }
        log.push_back(Arc::clone(frames));
        inner.order.push_back(meta.log_key);
        inner.bytes += size_of(frames);
        while inner.bytes > self.bytes_max {
            let Some(key) = inner.order.pop_front() else {
                break;
            };
            let evicted = inner.by_log.get_mut(&key).and_then(VecDeque::pop_front);
            if let Some(evicted) = evicted {
                inner.bytes -= size_of(&evicted);
            }
            if inner.by_log.get(&key).is_some_and(VecDeque::is_empty) {
                inner.by_log.remove(&key);
            }
        }
    }

    /// The entries of `log` from index `from` on, contiguous (it stops at a hole), at most
    /// about `bytes_max` bytes of frames (at least one entry when there is one). Empty when
    /// memory does not hold `from` itself: the caller reads the disk store.
    pub fn read_from(&self, log: &LogKey, from: u64, bytes_max: usize) -> Vec<Arc<Frames>> {
        let inner = self.inner.borrow();
        let Some(entries) = inner.by_log.get(log) else {
            return Vec::new();
        };
        let start = entries.partition_point(|f| f.meta.index < from);
        let mut out = Vec::new();
        let (mut expected, mut bytes) = (from, 0);
        for frames in entries.range(start..) {
            if frames.meta.index != expected || (!out.is_empty() && bytes >= bytes_max) {
                break;
            }
            bytes += size_of(frames);
            expected += 1;
            out.push(Arc::clone(frames));
        }
        out
    }

    /// Bytes of frames held now.
    pub fn bytes(&self) -> usize {
        self.inner.borrow().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::EntryMeta;
    use bytes::Bytes;

    fn entry(key: u8, index: u64) -> Arc<Frames> {
        Arc::new(Frames {
            lite: Bytes::from(vec![b'l'; 10]),
            full: Bytes::from(vec![b'f'; 20]),
            domains: Bytes::from(vec![b'd'; 5]),
            meta: EntryMeta {
                log_key: [key; 8],
                index,
                ..EntryMeta::default()
            },
        })
    }

    fn indexes(v: &[Arc<Frames>]) -> Vec<u64> {
        v.iter().map(|f| f.meta.index).collect()
    }

    #[test]
    fn reads_are_contiguous_from_the_asked_index_and_stop_at_a_hole() {
        let recent = RecentFrames::new(1 << 20);
        for i in [3, 4, 5, 7, 8] {
            recent.record(&entry(1, i));
        }
        recent.record(&entry(1, 4)); // a page fetched again: not kept twice
        assert_eq!(indexes(&recent.read_from(&[1; 8], 4, 1 << 20)), [4, 5]);
        assert_eq!(indexes(&recent.read_from(&[1; 8], 7, 1 << 20)), [7, 8]);
        assert!(
            recent.read_from(&[1; 8], 6, 1 << 20).is_empty(),
            "6 is not held"
        );
        assert!(
            recent.read_from(&[1; 8], 2, 1 << 20).is_empty(),
            "2 is older than held"
        );
        assert!(
            recent.read_from(&[2; 8], 0, 1 << 20).is_empty(),
            "another log"
        );
        // The byte bound of a read, but always one entry.
        assert_eq!(indexes(&recent.read_from(&[1; 8], 3, 1)), [3]);
        assert_eq!(indexes(&recent.read_from(&[1; 8], 3, 36)), [3, 4]);
    }

    #[test]
    fn the_oldest_entries_of_any_log_go_first_past_the_byte_bound() {
        let recent = RecentFrames::new(35 * 4);
        recent.record(&entry(1, 0));
        recent.record(&entry(2, 0));
        recent.record(&entry(1, 1));
        recent.record(&entry(2, 1));
        assert_eq!(recent.bytes(), 140);
        recent.record(&entry(1, 2));
        assert_eq!(recent.bytes(), 140, "bounded");
        assert!(
            recent.read_from(&[1; 8], 0, 1 << 20).is_empty(),
            "the oldest went"
        );
        assert_eq!(indexes(&recent.read_from(&[1; 8], 1, 1 << 20)), [1, 2]);
        assert_eq!(indexes(&recent.read_from(&[2; 8], 0, 1 << 20)), [0, 1]);
    }
}
