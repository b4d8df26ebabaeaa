//! A worker thread's state. [`WorkerShared`] holds the worker's counters, histograms and
//! log-URL interner (one thread, so plain fields behind one `Rc<RefCell<..>>`);
//! [`ClientState`] holds one client's per-log [`LogTrack`]s and how its connection ended.
//! [`super::client`] writes both while reading; [`super::worker`] checks them while draining;
//! [`super::aggregate`] sums them into the report.

use std::collections::HashMap;
use std::sync::Arc;

use hdrhistogram::Histogram;

use crate::bench::limits::{ERRORS_KEPT_MAX, LATENCY_US_MAX};
use crate::bench::tracker::{Interner, LogTrack};

/// Per-worker counters and histograms (one thread, so plain fields).
pub(super) struct WorkerShared {
    pub(super) interner: Interner,
    pub(super) starts: Arc<HashMap<String, u64>>,
    pub(super) start_by_id: Vec<Option<u64>>,
    pub(super) latency_us: Histogram<u64>,
    pub(super) connect_us: Histogram<u64>,
    pub(super) delivered: u64,
    pub(super) bytes: u64,
    pub(super) heartbeats: u64,
    pub(super) other: u64,
    pub(super) malformed: u64,
    pub(super) untracked: u64,
    pub(super) negative: u64,
    pub(super) errors: Vec<String>,
    pub(super) errors_total: usize,
}

impl WorkerShared {
    pub(super) fn new(starts: Arc<HashMap<String, u64>>) -> Self {
        WorkerShared {
            interner: Interner::default(),
            starts,
            start_by_id: Vec::new(),
            latency_us: new_histogram(),
            connect_us: new_histogram(),
            delivered: 0,
            bytes: 0,
            heartbeats: 0,
            other: 0,
            malformed: 0,
            untracked: 0,
            negative: 0,
            errors: Vec::new(),
            errors_total: 0,
        }
    }

    pub(super) fn error(&mut self, e: String) {
        self.errors_total += 1;
        if self.errors.len() < ERRORS_KEPT_MAX {
            self.errors.push(e);
        }
    }

    /// Interns `url`, remembering its configured start.
    pub(super) fn log_id(&mut self, url: &[u8]) -> Option<u32> {
        let id = self.interner.id(url)?;
        if id as usize >= self.start_by_id.len() {
            let start = self.starts.get(self.interner.name(id)).copied();
            self.start_by_id.push(start);
        }
        Some(id)
    }
}

pub(super) fn new_histogram() -> Histogram<u64> {
    // Bounds are constants, so construction cannot fail.
    Histogram::new_with_bounds(1, LATENCY_US_MAX, 3).expect("valid histogram bounds")
}

/// How a client's connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum End {
    Eof,
    ServerClose,
    Error(String),
}

/// One client: its kind, whether it connected, how it ended, its track of each log (by
/// interned id).
#[derive(Default)]
pub(super) struct ClientState {
    pub(super) slow: bool,
    pub(super) connected: bool,
    pub(super) ended: Option<End>,
    pub(super) logs: Vec<Option<LogTrack>>,
}

impl ClientState {
    pub(super) fn track(&mut self, id: u32, start: Option<u64>) -> &mut LogTrack {
        let i = id as usize;
        if i >= self.logs.len() {
            self.logs.resize(i + 1, None);
        }
        self.logs[i].get_or_insert_with(|| LogTrack::new(start))
    }
}

/// The interned id of a canonical log URL (a linear scan: run once per log, not per message).
pub(super) fn find_id(interner: &Interner, canonical: &str) -> Option<u32> {
    (0..interner.len() as u32).find(|&i| interner.name(i) == canonical)
}
