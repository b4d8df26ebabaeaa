//! The state the controller shares with the workers and hands to the aggregation: the run's
//! [`Phase`], the [`Control`] block (the phase, as an atomic the data path loads once per
//! `read` plus a watch channel that wakes the workers' phase followers; the connect counters,
//! the drain count and the targets once known), and the [`Timing`] of the phases.
//!
//! It sits below the controller, the workers, the clients and the aggregation so that each of
//! them can use it without importing another back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{watch, Semaphore};

use super::targets::{ServerSkips, Targets};

/// Run phases, in order. The controller reports each to its hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[repr(u8)]
pub enum Phase {
    /// Clients are connecting.
    Connecting = 0,
    /// All connected (or failed); not yet measuring.
    Warmup = 1,
    /// The measured window.
    Measuring = 2,
    /// Window over; waiting for clients to reach the final tree sizes.
    Draining = 3,
    /// Done.
    Stop = 4,
}

/// Shared between the controller and the workers (control plane only; the data path reads
/// `phase` with one relaxed load per `read`).
pub(super) struct Control {
    phase: AtomicU8,
    pub(super) phase_tx: watch::Sender<Phase>,
    pub(super) connected: AtomicUsize,
    pub(super) failed: AtomicUsize,
    pub(super) drained_workers: AtomicUsize,
    pub(super) targets: Mutex<Option<Targets>>,
    pub(super) connect_permits: Arc<Semaphore>,
}

impl Control {
    pub(super) fn new(connect_concurrency: usize) -> Self {
        let (phase_tx, _) = watch::channel(Phase::Connecting);
        Control {
            phase: AtomicU8::new(Phase::Connecting as u8),
            phase_tx,
            connected: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            drained_workers: AtomicUsize::new(0),
            targets: Mutex::new(None),
            connect_permits: Arc::new(Semaphore::new(connect_concurrency.max(1))),
        }
    }

    pub(super) fn set_phase(&self, p: Phase) {
        self.phase.store(p as u8, Ordering::Release);
        self.phase_tx.send_replace(p);
    }

    pub(super) fn measuring(&self) -> bool {
        self.phase.load(Ordering::Relaxed) == Phase::Measuring as u8
    }
}

/// How long each phase took, and what the gap check read.
pub(super) struct Timing {
    pub(super) connect_all: Duration,
    pub(super) window: Duration,
    pub(super) gap_targets: Option<Targets>,
    pub(super) drain: Duration,
    /// The server's skip report per canonical log URL, or why it could not be read.
    pub(super) server_report: Option<Result<HashMap<String, ServerSkips>, String>>,
}

impl Timing {
    pub(super) fn connected_after(connect_all: Duration) -> Self {
        Timing {
            connect_all,
            window: Duration::ZERO,
            gap_targets: None,
            drain: Duration::ZERO,
            server_report: None,
        }
    }
}
