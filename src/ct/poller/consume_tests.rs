//! The consume step ([`super::consume_page`]) on its own: the cursor advances past a page only
//! when the sink took it, and the page's skipped entries are recorded only then.

use std::{cell::RefCell, rc::Rc};

use bytes::Bytes;

use super::{consume_page, fetch::FetchError, Emitted, EntrySink, LogCtx, LogProgress, Page};
use crate::{
    ct::{
        entry::{EntryKind, LogEntry},
        log_list::{LogInfo, LogKind, LogState},
        sig::{test_keys::ARGON2025H2, LogKey},
    },
    metrics::LogStats,
};

/// Takes every page (recording the indexes it was given) and reports `unencodable`, or
/// refuses every page.
struct Sink {
    refuse: bool,
    unencodable: Vec<(u64, String)>,
    given: RefCell<Vec<u64>>,
}

impl EntrySink for Sink {
    fn emit(&self, _log: &LogCtx, entries: Vec<LogEntry>) -> Emitted {
        self.given
            .borrow_mut()
            .extend(entries.iter().map(|e| e.index));
        if self.refuse {
            return Emitted::Refused;
        }
        Emitted::Taken {
            unencodable: self.unencodable.clone(),
        }
    }
}

fn sink(refuse: bool, unencodable: &[u64]) -> Sink {
    Sink {
        refuse,
        unencodable: unencodable
            .iter()
            .map(|&i| (i, "cannot encode".into()))
            .collect(),
        given: RefCell::default(),
    }
}

/// A log started at 10 with a verified tree of 100.
fn log() -> LogCtx {
    let key = LogKey::from_base64(ARGON2025H2).unwrap();
    let info = LogInfo {
        kind: LogKind::Rfc6962,
        description: "consume test log".into(),
        operator: "test".into(),
        log_id: key.log_id(),
        key,
        submission_url: None,
        url: "https://ct.example/".into(),
        mmd_secs: 60,
        state: LogState::Usable,
        lists: Vec::new(),
    };
    let progress = LogProgress::new(info.log_id, &info.description, &info.url, Some(10));
    progress.record_head(100, 1_000);
    LogCtx {
        stats: LogStats::new(info.log_id, &info.url, &info.description, "test"),
        progress,
        info,
        slot: super::PollSlot::ONLY,
    }
}

fn entry(index: u64) -> LogEntry {
    LogEntry {
        index,
        timestamp_ms: 1,
        kind: EntryKind::X509,
        leaf_der: Bytes::from_static(b"leaf"),
        chain: Vec::new(),
    }
}

/// Entries 10..20 but 12 (undecodable).
fn page() -> Page {
    Page {
        start: 10,
        end: 20,
        entries: (10..20).filter(|&i| i != 12).map(entry).collect(),
        undecodable: vec![(12, "cannot decode".into())],
    }
}

fn skipped(progress: &Rc<LogProgress>) -> Vec<u64> {
    progress.skipped_recent().iter().map(|e| e.index).collect()
}

#[test]
fn a_taken_page_moves_the_cursor_to_its_end_and_records_its_skips() {
    let log = log();
    let sink = sink(false, &[15]);
    assert_eq!(consume_page(&sink, &log, page()).unwrap(), 20);
    assert_eq!(log.progress.cursor(), 20);
    assert_eq!(sink.given.borrow().len(), 9);
    assert_eq!(skipped(&log.progress), [12, 15]);
    assert_eq!(log.progress.entries_skipped(), 2);
}

#[test]
fn a_refused_page_leaves_the_cursor_and_records_nothing() {
    let log = log();
    let sink = sink(true, &[]);
    let refused = consume_page(&sink, &log, page());
    assert!(matches!(refused, Err(FetchError::Stopped)), "{refused:?}");
    assert_eq!(log.progress.cursor(), 10, "fetched again after a restart");
    assert_eq!(log.progress.entries_skipped(), 0);
}

#[test]
fn a_page_of_only_undecodable_entries_still_asks_the_sink() {
    let log = log();
    let only_skips = || Page {
        start: 10,
        end: 12,
        entries: Vec::new(),
        undecodable: vec![(10, "x".into()), (11, "y".into())],
    };
    let refused = consume_page(&sink(true, &[]), &log, only_skips());
    assert!(refused.is_err());
    assert_eq!(log.progress.cursor(), 10, "a closed sink holds the cursor");
    assert_eq!(
        consume_page(&sink(false, &[]), &log, only_skips()).unwrap(),
        12
    );
    assert_eq!(skipped(&log.progress), [10, 11]);
}

#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "a page starts at the cursor")]
fn a_page_that_does_not_start_at_the_cursor_is_a_bug() {
    let mut gap = page();
    gap.start = 11;
    let _ = consume_page(&sink(false, &[]), &log(), gap);
}
