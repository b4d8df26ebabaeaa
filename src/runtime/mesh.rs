//! The cross-core rings, built before any executor starts.
//!
//! For `n` executors: a frame ring `i → j` for every `i ≠ j` (batches of encoded certificates), a
//! control ring `0 → j` (log assignments from the coordinator) and a snapshot ring `i → j`
//! (counters for `/metrics`). All are glommio `shared_channel`s: bounded, single producer,
//! single consumer, lock-free; only `Send` values (immutable `Arc`s and plain data) cross.

use std::sync::Arc;

use glommio::{
    channels::shared_channel::{
        self, ConnectedReceiver, ConnectedSender, SharedReceiver, SharedSender,
    },
    spawn_local,
};

use crate::{
    ct::{log_list::LogInfo, poller::PollSlot},
    frame::Frames,
    limits,
    metrics::CoreSnapshot,
};

/// The certificates of one fetched page, each encoded once, shared by every executor.
pub type FrameBatch = Arc<[Arc<Frames>]>;

/// What the coordinator tells the executor that owns (or is to own) a log.
#[derive(Debug)]
pub enum Control {
    /// Start following this log; `start_at` is a saved cursor, if any; `slot` is where its
    /// head polls fall in the poll interval.
    AddLog {
        info: Box<LogInfo>,
        start_at: Option<u64>,
        slot: PollSlot,
    },
    /// The log left the list: stop following it.
    RetireLog { log_id: [u8; 32] },
}

/// The ring ends one executor owns (`None` at its own index).
pub struct CoreEnds {
    pub frames_out: Vec<Option<SharedSender<FrameBatch>>>,
    pub frames_in: Vec<SharedReceiver<FrameBatch>>,
    pub snapshots_out: Vec<Option<SharedSender<Arc<CoreSnapshot>>>>,
    pub snapshots_in: Vec<SharedReceiver<Arc<CoreSnapshot>>>,
    /// Core 0 sends to every other core; the others have none.
    pub control_out: Vec<Option<SharedSender<Control>>>,
    pub control_in: Option<SharedReceiver<Control>>,
    pub cores: usize,
}

/// Every ring of an `n`-executor process, not yet handed out.
pub struct Wiring {
    cores: Vec<CoreEnds>,
}

impl Wiring {
    pub fn new(n: usize) -> Wiring {
        let mut cores: Vec<CoreEnds> = (0..n)
            .map(|_| CoreEnds {
                frames_out: (0..n).map(|_| None).collect(),
                frames_in: Vec::new(),
                snapshots_out: (0..n).map(|_| None).collect(),
                snapshots_in: Vec::new(),
                control_out: (0..n).map(|_| None).collect(),
                control_in: None,
                cores: n,
            })
            .collect();
        for i in 0..n {
            for j in (0..n).filter(|&j| j != i) {
                let (tx, rx) = shared_channel::new_bounded(limits::RING_BATCHES_MAX);
                cores[i].frames_out[j] = Some(tx);
                cores[j].frames_in.push(rx);
                let (tx, rx) = shared_channel::new_bounded(2);
                cores[i].snapshots_out[j] = Some(tx);
                cores[j].snapshots_in.push(rx);
            }
        }
        for j in 1..n {
            let (tx, rx) = shared_channel::new_bounded(limits::CONTROL_RING_MAX);
            cores[0].control_out[j] = Some(tx);
            cores[j].control_in = Some(rx);
        }
        Wiring { cores }
    }

    pub fn into_cores(self) -> Vec<CoreEnds> {
        self.cores
    }
}

/// The ring ends of one executor after `connect()`: `!Send`, bound to this executor.
pub struct ConnectedEnds {
    pub frames_out: Vec<ConnectedSender<FrameBatch>>,
    pub frames_in: Vec<ConnectedReceiver<FrameBatch>>,
    pub snapshots_out: Vec<ConnectedSender<Arc<CoreSnapshot>>>,
    pub snapshots_in: Vec<ConnectedReceiver<Arc<CoreSnapshot>>>,
    /// Indexed by core; `None` at this core's own index (and everywhere on cores other than 0).
    pub control_out: Vec<Option<ConnectedSender<Control>>>,
    pub control_in: Option<ConnectedReceiver<Control>>,
    pub cores: usize,
}

impl CoreEnds {
    /// Connects every end. A `connect()` completes only once the peer executor connected the
    /// other end, so all receivers connect concurrently in tasks while the senders connect in
    /// turn; connecting one by one in a fixed order would deadlock two executors waiting on
    /// each other.
    pub async fn connect(self) -> ConnectedEnds {
        let frames_in: Vec<_> = self
            .frames_in
            .into_iter()
            .map(|rx| spawn_local(rx.connect()))
            .collect();
        let snapshots_in: Vec<_> = self
            .snapshots_in
            .into_iter()
            .map(|rx| spawn_local(rx.connect()))
            .collect();
        let control_in = self.control_in.map(|rx| spawn_local(rx.connect()));
        let mut out = ConnectedEnds {
            frames_out: Vec::new(),
            frames_in: Vec::new(),
            snapshots_out: Vec::new(),
            snapshots_in: Vec::new(),
            control_out: Vec::new(),
            control_in: None,
            cores: self.cores,
        };
        for tx in self.frames_out.into_iter().flatten() {
            out.frames_out.push(tx.connect().await);
        }
        for tx in self.snapshots_out.into_iter().flatten() {
            out.snapshots_out.push(tx.connect().await);
        }
        for tx in self.control_out {
            out.control_out.push(match tx {
                Some(tx) => Some(tx.connect().await),
                None => None,
            });
        }
        for t in frames_in {
            out.frames_in.push(t.await);
        }
        for t in snapshots_in {
            out.snapshots_in.push(t.await);
        }
        if let Some(t) = control_in {
            out.control_in = Some(t.await);
        }
        out
    }
}
