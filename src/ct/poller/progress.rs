//! Where one followed log stands: its cursor, its verified tree size and head time, the heads
//! behind the lag in seconds, and the entries skipped for good.
//!
//! [`LogProgress`] is the single owner of that position. Its only writer is the log's poller
//! (`follow` sets the start position, `consume_page` advances the cursor and
//! records skips, the head polls record verified heads); everything else (snapshots, the state
//! file, `/health/deep`, `/metrics`, a replay store) reads it, through the getters or a
//! [`LogPosition`] copy. Like every per-log structure it is `!Send` and lives on the executor
//! that owns the log.

use std::{
    cell::{Cell, RefCell},
    collections::VecDeque,
    fmt,
    rc::Rc,
};

use crate::{
    limits,
    metrics::{LogSnapshot, LogStats, SkippedEntry},
};

/// Where a log stands, as plain data: what a replay store, the state file and the metrics read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogPosition {
    pub log_id: [u8; 32],
    /// False until the poller has a start position (a saved cursor, or the backfill point of
    /// its first verified head); `cursor` is then 0 and means nothing.
    pub started: bool,
    /// Next index to stream: every entry below it was streamed or skipped for good.
    pub cursor: u64,
    /// Latest verified tree size (0 before the first verified head).
    pub tree_size: u64,
    /// Unix milliseconds of the latest verified tree head (0 before the first).
    pub head_timestamp_ms: u64,
}

impl LogPosition {
    /// The cursor a restart (or a replay) resumes from; `None` before the log was started: a
    /// cursor 0 saved for such a log would stream the whole log after the next start.
    pub fn resume_cursor(&self) -> Option<u64> {
        self.started.then_some(self.cursor)
    }

    /// Entries in the log not yet streamed.
    pub fn lag_entries(&self) -> u64 {
        self.tree_size.saturating_sub(self.cursor)
    }

    /// The position a snapshot carries: how other executors see a log they do not own (the
    /// owner's [`LogProgress::position`] when the snapshot was taken).
    pub fn of_snapshot(snap: &LogSnapshot) -> LogPosition {
        LogPosition {
            log_id: snap.log_id,
            started: snap.started,
            cursor: snap.cursor,
            tree_size: snap.tree_size,
            head_timestamp_ms: snap.head_timestamp_ms,
        }
    }

    /// Whether the entry at `index` was already streamed (or skipped for good): it is behind
    /// the cursor, and will never be emitted by this log's poller again.
    pub fn has_passed(&self, index: u64) -> bool {
        self.started && index < self.cursor
    }
}

/// A cursor move the poller asked for that would break an invariant: a bug in the poller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorViolation {
    /// [`LogProgress::advance`] before the log had a start position.
    NotStarted { to: u64 },
    /// [`LogProgress::advance`] to an index below the cursor.
    Backwards { from: u64, to: u64 },
    /// [`LogProgress::advance`] past the verified tree size.
    PastTreeSize { to: u64, tree_size: u64 },
    /// [`LogProgress::start_from`] on a log already started elsewhere.
    Restarted { from: u64, to: u64 },
}

impl fmt::Display for CursorViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CursorViolation::NotStarted { to } => {
                write!(
                    f,
                    "cursor advanced to {to} before the log had a start position"
                )
            }
            CursorViolation::Backwards { from, to } => {
                write!(f, "cursor moved backwards from {from} to {to}")
            }
            CursorViolation::PastTreeSize { to, tree_size } => write!(
                f,
                "cursor advanced to {to}, past the verified tree size {tree_size}"
            ),
            CursorViolation::Restarted { from, to } => {
                write!(f, "log started again at {to} while its cursor is at {from}")
            }
        }
    }
}

/// The position of one log, owned by its executor and written only by its poller.
///
/// # Invariants
///
/// - The cursor never moves backwards, and never passes the verified tree size: every entry
///   below it was handed to the sink (or skipped for good, and then recorded here).
/// - The verified tree size never shrinks ([`LogProgress::record_head`] ignores smaller heads:
///   load-balanced frontends serve stale ones).
/// - A log is started once: its start position is only ever set again to the same cursor (a
///   poller that replaces a stopped one resumes exactly where that one stopped).
///
/// A move that would break one of these is a bug in the poller. Debug builds and tests panic
/// (`debug_assert!`). Release builds refuse the move: the cursor stays where it was, an ERROR
/// naming the log and the move is logged, and the refusal is counted
/// ([`LogProgress::refused_moves`]). Refusing errs on the safe side: a cursor left behind makes
/// a restart stream some entries again, never skip one; a cursor kept ahead never re-claims
/// entries it already passed.
#[derive(Debug)]
pub struct LogProgress {
    log_id: [u8; 32],
    /// The log's name and URL, for log lines.
    name: String,
    url: String,
    /// Next index to stream; `None` until the poller has a start position.
    cursor: Cell<Option<u64>>,
    /// Latest verified tree size.
    tree_size: Cell<u64>,
    /// Unix milliseconds of the latest verified tree head.
    head_timestamp_ms: Cell<u64>,
    /// Verified tree heads (tree size, timestamp ms) that hold entries not yet streamed,
    /// oldest first, at most [`limits::LAG_HEADS_MAX`]: the lag in seconds is measured from
    /// the first one.
    heads: RefCell<VecDeque<(u64, u64)>>,
    /// Entries that could not be decoded or encoded, counted and skipped.
    entries_skipped: Cell<u64>,
    /// The most recent of those (the highest indexes), in index order (at most
    /// [`limits::SKIPPED_ENTRIES_RECENT`]).
    skipped_recent: RefCell<VecDeque<SkippedEntry>>,
    /// Cursor moves refused because they would have broken an invariant (release builds).
    refused_moves: Cell<u64>,
}

impl LogProgress {
    /// The progress of a log not streamed yet: started at `start` (a saved cursor), or, with
    /// `None`, waiting for its poller to pick the start.
    pub fn new(log_id: [u8; 32], name: &str, url: &str, start: Option<u64>) -> Rc<LogProgress> {
        Rc::new(LogProgress {
            log_id,
            name: name.to_owned(),
            url: url.to_owned(),
            cursor: Cell::new(start),
            tree_size: Cell::new(0),
            head_timestamp_ms: Cell::new(0),
            heads: RefCell::default(),
            entries_skipped: Cell::new(0),
            skipped_recent: RefCell::default(),
            refused_moves: Cell::new(0),
        })
    }

    // ---- Writers: the log's poller only -------------------------------------------------------

    /// Sets the start position: where a poller starts streaming (a saved cursor, the cursor a
    /// previous poller stopped at, or the backfill point of the first verified head). Setting
    /// it again to the cursor the log already has is a no-op; to any other index, a bug.
    pub fn start_from(&self, at: u64) {
        match self.cursor.get() {
            None => self.set_cursor(at),
            Some(c) if c == at => {}
            Some(from) => self.refuse(CursorViolation::Restarted { from, to: at }),
        }
    }

    /// Moves the cursor to `to`: every entry below it was handed to the sink or skipped for
    /// good. `to` must not be below the cursor nor past the verified tree size (see the type's
    /// docs for what happens when it is).
    pub fn advance(&self, to: u64) {
        match self.check_advance(to) {
            Ok(()) => self.set_cursor(to),
            Err(violation) => self.refuse(violation),
        }
    }

    fn check_advance(&self, to: u64) -> Result<(), CursorViolation> {
        let Some(from) = self.cursor.get() else {
            return Err(CursorViolation::NotStarted { to });
        };
        let tree_size = self.tree_size.get();
        if to < from {
            Err(CursorViolation::Backwards { from, to })
        } else if to > tree_size {
            Err(CursorViolation::PastTreeSize { to, tree_size })
        } else {
            Ok(())
        }
    }

    /// The one place a log's cursor is written.
    fn set_cursor(&self, to: u64) {
        self.cursor.set(Some(to));
        forget_streamed(&mut self.heads.borrow_mut(), to);
    }

    fn refuse(&self, violation: CursorViolation) {
        self.refused_moves.set(self.refused_moves.get() + 1);
        tracing::error!(log = %self.name, url = %self.url, "cursor move refused (a bug): {violation}");
        debug_assert!(false, "{}: {violation}", self.name);
    }

    /// Records a verified tree head and returns the verified tree size. A head no larger than
    /// the known one is no news (a stale frontend), never a rewind.
    pub fn record_head(&self, tree_size: u64, timestamp_ms: u64) -> u64 {
        if tree_size <= self.tree_size.get() {
            return self.tree_size.get();
        }
        self.tree_size.set(tree_size);
        self.head_timestamp_ms.set(timestamp_ms);
        let mut heads = self.heads.borrow_mut();
        forget_streamed(&mut heads, self.cursor());
        if heads.len() >= limits::LAG_HEADS_MAX {
            merge_neighbours(&mut heads);
        }
        heads.push_back((tree_size, timestamp_ms));
        tree_size
    }

    /// Counts, remembers and logs (WARN, with its index) an entry of the page being consumed
    /// (at or past the cursor) that can never be streamed. Skips are rare (a log serving broken
    /// entries), so one line each is affordable; the list in `/health/deep` keeps the most
    /// recent [`limits::SKIPPED_ENTRIES_RECENT`] in index order.
    pub fn record_skip(&self, index: u64, reason: String) {
        debug_assert!(
            index >= self.cursor(),
            "{}: entry {index} skipped behind the cursor {}",
            self.name,
            self.cursor()
        );
        self.entries_skipped.set(self.entries_skipped.get() + 1);
        tracing::warn!(log = %self.name, url = %self.url, index, "entry skipped: {reason}");
        let mut recent = self.skipped_recent.borrow_mut();
        let at = recent.partition_point(|e| e.index < index);
        if recent.len() == limits::SKIPPED_ENTRIES_RECENT {
            if at == 0 {
                return; // older than every kept one
            }
            recent.pop_front();
            recent.insert(at - 1, SkippedEntry::new(index, reason));
        } else {
            recent.insert(at, SkippedEntry::new(index, reason));
        }
    }

    // ---- Readers ------------------------------------------------------------------------------

    pub fn log_id(&self) -> [u8; 32] {
        self.log_id
    }

    /// Next index to stream (0 before the log is started).
    pub fn cursor(&self) -> u64 {
        self.cursor.get().unwrap_or(0)
    }

    /// Latest verified tree size (0 before the first verified head).
    pub fn tree_size(&self) -> u64 {
        self.tree_size.get()
    }

    /// Unix milliseconds of the latest verified tree head (0 before the first).
    pub fn head_timestamp_ms(&self) -> u64 {
        self.head_timestamp_ms.get()
    }

    /// The whole position, copied.
    pub fn position(&self) -> LogPosition {
        LogPosition {
            log_id: self.log_id,
            started: self.cursor.get().is_some(),
            cursor: self.cursor(),
            tree_size: self.tree_size(),
            head_timestamp_ms: self.head_timestamp_ms(),
        }
    }

    /// Timestamp (ms) of the first verified head that held the oldest entry not yet streamed;
    /// 0 when every entry of every known head was streamed.
    pub fn pending_since_ms(&self) -> u64 {
        let cursor = self.cursor();
        self.heads
            .borrow()
            .iter()
            .find(|&&(size, _)| size > cursor)
            .map_or(0, |&(_, timestamp_ms)| timestamp_ms)
    }

    /// Entries skipped for good since the log was first followed.
    pub fn entries_skipped(&self) -> u64 {
        self.entries_skipped.get()
    }

    /// The most recent skipped entries, in index order.
    /// The log's counters (`stats`) and position as one plain snapshot, what crosses cores for
    /// `/metrics`, `/health/deep` and the state file.
    pub fn snapshot(&self, stats: &LogStats) -> LogSnapshot {
        let position = self.position();
        LogSnapshot {
            log_id: position.log_id,
            url: stats.url.clone(),
            name: stats.name.clone(),
            kind: stats.kind,
            started: position.started,
            tree_size: position.tree_size,
            cursor: position.cursor,
            head_timestamp_ms: position.head_timestamp_ms,
            fetches: stats.fetches.get(),
            errors: std::array::from_fn(|i| stats.errors[i].get()),
            entries: stats.entries.get(),
            entries_skipped: self.entries_skipped(),
            skipped_recent: self.skipped_recent(),
            pacing_ms: stats.pacing_ms.get(),
            pending_since_ms: self.pending_since_ms(),
            lists: stats.lists.borrow().clone(),
        }
    }

    pub fn skipped_recent(&self) -> Vec<SkippedEntry> {
        self.skipped_recent.borrow().iter().cloned().collect()
    }

    /// Cursor moves refused as invariant violations (only release builds get past one).
    pub fn refused_moves(&self) -> u64 {
        self.refused_moves.get()
    }
}

/// Drops the heads whose every entry is below `cursor` (streamed).
fn forget_streamed(heads: &mut VecDeque<(u64, u64)>, cursor: u64) {
    while heads.front().is_some_and(|&(size, _)| size <= cursor) {
        heads.pop_front();
    }
}

/// Halves the list: each pair becomes one head with the pair's larger size and older
/// timestamp, so no entry is ever dated later than it really appeared.
fn merge_neighbours(heads: &mut VecDeque<(u64, u64)>) {
    let merged: VecDeque<(u64, u64)> = heads
        .make_contiguous()
        .chunks(2)
        .map(|pair| (pair[pair.len() - 1].0, pair[0].1))
        .collect();
    *heads = merged;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(start: Option<u64>) -> Rc<LogProgress> {
        LogProgress::new([3; 32], "C", "https://ct.example/c/", start)
    }

    #[test]
    fn advances_forward_up_to_the_verified_tree_size() {
        let p = progress(Some(10));
        assert_eq!(p.record_head(100, 1_000), 100);
        p.advance(10);
        p.advance(60);
        p.advance(100);
        assert_eq!(p.cursor(), 100);
        assert_eq!(p.position().lag_entries(), 0);
        assert_eq!(p.refused_moves(), 0);
    }

    #[test]
    fn a_smaller_head_is_no_news() {
        let p = progress(Some(0));
        p.record_head(100, 1_000);
        assert_eq!(
            p.record_head(90, 2_000),
            100,
            "a stale frontend never rewinds"
        );
        assert_eq!((p.tree_size(), p.head_timestamp_ms()), (100, 1_000));
    }

    #[test]
    fn a_log_without_a_start_has_no_resume_cursor() {
        let p = progress(None);
        p.record_head(50, 1_000);
        assert_eq!(p.position().resume_cursor(), None);
        assert!(!p.position().has_passed(0));
        p.start_from(40);
        p.start_from(40);
        let pos = p.position();
        assert_eq!(pos.resume_cursor(), Some(40));
        assert!(pos.has_passed(39) && !pos.has_passed(40));
        assert_eq!(pos.lag_entries(), 10);
    }

    /// Runs `f`; the message it panicked with, if it did.
    fn panic_of(f: impl FnOnce()) -> Option<String> {
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).err()?;
        let text = err.downcast_ref::<String>().cloned();
        Some(text.unwrap_or_default())
    }

    /// Each violation panics in debug builds (and so in tests) with what went wrong; in release
    /// builds it is refused. Either way the cursor stays where it was and the refusal is
    /// counted.
    #[test]
    fn violations_panic_in_debug_and_are_refused_without_moving_the_cursor() {
        let p = progress(None);
        p.record_head(100, 1_000);
        // What the panic says, and the move: `start_from(to)` or `advance(to)`.
        let moves = [
            ("before the log had a start position", false, 5),
            ("cursor moved backwards from 50 to 49", false, 49),
            ("past the verified tree size 100", false, 101),
            ("log started again at 7 while its cursor is at 50", true, 7),
        ];
        for (k, (what, start, to)) in moves.into_iter().enumerate() {
            if k == 1 {
                p.start_from(50);
            }
            let panicked = panic_of(|| match start {
                true => p.start_from(to),
                false => p.advance(to),
            });
            if cfg!(debug_assertions) {
                let message = panicked.unwrap_or_else(|| panic!("no panic for: {what}"));
                assert!(message.contains(what), "{message:?} does not say {what:?}");
            } else {
                assert_eq!(panicked, None, "{what}");
            }
            assert_eq!(p.refused_moves(), k as u64 + 1, "{what}");
            assert_eq!(
                p.position().resume_cursor(),
                (k > 0).then_some(50),
                "{what}"
            );
        }
        p.advance(100);
        assert_eq!(p.cursor(), 100, "legal moves still go through");
    }

    #[test]
    fn lag_counts_from_the_first_head_holding_the_oldest_unstreamed_entry() {
        let p = progress(Some(0));
        assert_eq!(p.pending_since_ms(), 0, "no head yet");
        p.record_head(10, 1_000);
        p.record_head(20, 2_000);
        p.advance(5);
        assert_eq!(p.pending_since_ms(), 1_000);
        p.advance(15);
        assert_eq!(p.pending_since_ms(), 2_000);
        p.advance(20);
        assert_eq!(p.pending_since_ms(), 0, "caught up");
    }

    #[test]
    fn remembered_heads_stay_bounded_and_never_date_an_entry_later() {
        let p = progress(Some(0));
        let max = limits::LAG_HEADS_MAX as u64;
        for i in 1..=3 * max {
            p.record_head(i * 10, i * 1_000);
        }
        assert!(p.heads.borrow().len() <= limits::LAG_HEADS_MAX);
        // Entry 0 first appeared in the head of time 1000; entry 15 in the one of time 2000.
        assert_eq!(p.pending_since_ms(), 1_000);
        p.advance(15);
        assert!(p.pending_since_ms() <= 2_000);
        assert_eq!(
            p.heads.borrow().back(),
            Some(&(3 * max * 10, 3 * max * 1_000))
        );
    }

    #[test]
    fn skips_are_listed_in_index_order_keeping_the_highest() {
        let p = progress(Some(0));
        let n = limits::SKIPPED_ENTRIES_RECENT as u64;
        // A page's decode skips come before its encode skips.
        for index in (0..n).map(|k| 10 * k + 5).chain((0..n).map(|k| 10 * k)) {
            p.record_skip(index, String::new());
        }
        p.record_skip(1, String::new());
        let listed: Vec<u64> = p.skipped_recent().iter().map(|e| e.index).collect();
        let mut all: Vec<u64> = (0..n).flat_map(|k| [10 * k, 10 * k + 5]).collect();
        all.push(1);
        all.sort_unstable();
        assert_eq!(listed, all[all.len() - n as usize..]);
        assert_eq!(p.entries_skipped(), 2 * n + 1);
    }
}

/// The progress as `/metrics` and `/health/deep` show it: snapshots taken from it, rendered by
/// [`crate::metrics`].
#[cfg(test)]
mod snapshot_tests {
    use std::rc::Rc;

    use super::{LogPosition, LogProgress};
    use crate::{
        limits,
        metrics::{
            bump, health_json, render, CoreSnapshot, CoreStats, FetchErrorKind, LogStats,
            ProcessFacts,
        },
    };

    fn log(id: u8, url: &str, name: &str, kind: &'static str) -> (Rc<LogStats>, Rc<LogProgress>) {
        let stats = LogStats::new([id; 32], url, name, kind);
        let progress = LogProgress::new([id; 32], name, url, Some(0));
        (stats, progress)
    }

    fn capture(core: usize, (stats, progress): &(Rc<LogStats>, Rc<LogProgress>)) -> CoreSnapshot {
        CoreSnapshot::capture(core, &CoreStats::default(), [progress.snapshot(stats)])
    }

    #[test]
    fn render_lists_every_log_and_core() {
        let (stats, progress) = log(1, "https://ct.example/a/", "Example \"A\" log", "rfc6962");
        progress.record_head(100, 1);
        progress.advance(90);
        stats.count_error(FetchErrorKind::RateLimited);
        let core = CoreStats::default();
        bump(&core.frames_published);
        let snap = CoreSnapshot::capture(1, &core, [progress.snapshot(&stats)]);
        assert_eq!(
            LogPosition::of_snapshot(&snap.logs[0]),
            progress.position(),
            "other cores see the owner's position"
        );
        let text = render(
            &[snap],
            ProcessFacts {
                uptime_secs: 1.0,
                rss_bytes: 5,
                now_ms: 0,
            },
        );
        assert!(text.contains("certstream_log_lag_entries{log=\"Example \\\"A\\\" log\",url=\"https://ct.example/a/\",type=\"rfc6962\"} 10"));
        assert!(text.contains("certstream_log_cursor{log=\"Example \\\"A\\\" log\",url=\"https://ct.example/a/\",type=\"rfc6962\"} 90"));
        assert!(text.contains("kind=\"rate_limited\"} 1"));
        assert!(text.contains("certstream_frames_published_total{core=\"1\"} 1"));
        assert!(text.contains("certstream_resident_memory_bytes 5"));
    }

    #[test]
    fn health_and_metrics_name_the_lists_a_log_is_followed_for() {
        let log = log(3, "https://ct.example/c/", "C", "rfc6962");
        let facts = ProcessFacts {
            uptime_secs: 1.0,
            rss_bytes: 0,
            now_ms: 0,
        };
        let google: std::sync::Arc<str> = "https://lists.example/google.json".into();
        let apple: std::sync::Arc<str> = "/etc/lists/apple \"v5\".json".into();
        log.0.set_lists(vec![google.clone(), apple.clone()]);
        let json = health_json(&[capture(0, &log)], facts);
        let v: sonic_rs::Value = sonic_rs::from_str(&json).unwrap();
        use sonic_rs::{JsonContainerTrait as _, JsonValueTrait as _};
        let lists: Vec<&str> = v["logs"][0]["lists"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|l| l.as_str())
            .collect();
        assert_eq!(lists, [&*google, &*apple]);
        let text = render(&[capture(0, &log)], facts);
        let labels = "log=\"C\",url=\"https://ct.example/c/\",type=\"rfc6962\"";
        for line in [
            format!("certstream_log_list_info{{{labels},list=\"{google}\"}} 1"),
            format!(
                "certstream_log_list_info{{{labels},list=\"/etc/lists/apple \\\"v5\\\".json\"}} 1"
            ),
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
        log.0.set_lists(vec![apple]);
        let text = render(&[capture(0, &log)], facts);
        assert_eq!(text.matches("certstream_log_list_info{").count(), 1);
    }

    #[test]
    fn lag_seconds_count_from_the_first_head_holding_the_oldest_unstreamed_entry() {
        let log = log(2, "https://ct.example/b/", "B", "static");
        let progress = &log.1;
        let lag_at = |now_ms| capture(0, &log).logs[0].lag_seconds(now_ms);
        assert_eq!(lag_at(9_000), 0.0, "no head yet");
        progress.record_head(10, 1_000);
        progress.record_head(20, 2_000);
        progress.advance(5);
        assert_eq!(lag_at(4_000), 3.0);
        progress.advance(15);
        assert_eq!(lag_at(4_000), 2.0);
        progress.advance(20);
        assert_eq!(lag_at(4_000), 0.0, "caught up");
        progress.record_head(30, 5_000);
        let text = render(
            &[capture(0, &log)],
            ProcessFacts {
                uptime_secs: 1.0,
                rss_bytes: 0,
                now_ms: 5_500,
            },
        );
        assert!(
            text.contains("certstream_log_lag_seconds{log=\"B\",url=\"https://ct.example/b/\",type=\"static\"} 0.500"),
            "{text}"
        );
    }

    #[test]
    fn health_lists_recent_skips_with_their_index_bounded() {
        let log = log(2, "https://ct.example/b/", "B", "static");
        let progress = &log.1;
        let total = limits::SKIPPED_ENTRIES_RECENT as u64 + 5;
        for index in 0..total {
            progress.record_skip(index * 10, format!("entry {index}: broken"));
        }
        progress.record_skip(total * 10, "é".repeat(limits::SKIP_REASON_BYTES_MAX));
        let json = health_json(
            &[capture(0, &log)],
            ProcessFacts {
                uptime_secs: 1.0,
                rss_bytes: 0,
                now_ms: 0,
            },
        );
        let v: sonic_rs::Value = sonic_rs::from_str(&json).unwrap();
        use sonic_rs::{JsonContainerTrait as _, JsonValueTrait as _};
        let log = &v["logs"][0];
        assert_eq!(log["entries_skipped"].as_u64(), Some(total + 1));
        let recent = log["skipped_recent"].as_array().unwrap();
        assert_eq!(recent.len(), limits::SKIPPED_ENTRIES_RECENT);
        let first = total + 1 - limits::SKIPPED_ENTRIES_RECENT as u64;
        assert_eq!(
            recent[0]["index"].as_u64(),
            Some(first * 10),
            "oldest dropped first"
        );
        assert_eq!(
            recent[0]["reason"].as_str(),
            Some(format!("entry {first}: broken").as_str())
        );
        let last = recent[recent.len() - 1]["reason"].as_str().unwrap();
        assert!(last.len() <= limits::SKIP_REASON_BYTES_MAX && last.starts_with('é'));
    }
}
