//! The cross-core rings, built before any executor starts.
//!
//! For `n` executors: a frame ring `i → j` for every `i ≠ j` (batches of encoded certificates), a
//! control ring `0 → j` (log assignments from the coordinator) and a snapshot ring `i → j`
//! (counters for `/metrics`). All are glommio `shared_channel`s: bounded, single producer,
//! single consumer, lock-free; only `Send` values (immutable `Arc`s and plain data) cross.
//!
//! The stop's barrier ([`PublisherBarrier`]) is a `flume` channel per executor instead: it must
//! work while executors are still starting (a glommio channel's `connect()` waits for its
//! peer, which a stop during startup may never bring).

use std::{cell::Cell, sync::Arc};

use futures_lite::future;
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
    /// The lists (`--log-list` sources) that have a followed log changed: these have it now.
    ListedIn {
        log_id: [u8; 32],
        lists: Vec<Arc<str>>,
    },
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
    pub barrier: PublisherBarrier,
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
                barrier: PublisherBarrier::default(),
                cores: n,
            })
            .collect();
        for i in 0..n {
            for j in (0..n).filter(|&j| j != i) {
                let (tx, rx) = shared_channel::new_bounded(limits::RING_BATCHES_MAX);
                cores[i].frames_out[j] = Some(tx);
                cores[j].frames_in.push(rx);
                let (tx, rx) = shared_channel::new_bounded(limits::SNAPSHOT_RING_DEPTH);
                cores[i].snapshots_out[j] = Some(tx);
                cores[j].snapshots_in.push(rx);
            }
        }
        for j in 1..n {
            let (tx, rx) = shared_channel::new_bounded(limits::CONTROL_RING_MAX);
            cores[0].control_out[j] = Some(tx);
            cores[j].control_in = Some(rx);
        }
        PublisherBarrier::wire(&mut cores);
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

/// Phase 1 of the stop, as messages between executors: no core sends its 1001 close while
/// another could still publish into its rings, so each one announces "my publisher is closed"
/// to every other and waits (bounded) for theirs.
pub struct PublisherBarrier {
    /// One notice from each other executor, at most.
    closed_in: flume::Receiver<()>,
    /// To every other executor.
    closed_out: Vec<flume::Sender<()>>,
    announced: Cell<bool>,
}

impl Default for PublisherBarrier {
    fn default() -> Self {
        let (_, closed_in) = flume::bounded(0);
        PublisherBarrier {
            closed_in,
            closed_out: Vec::new(),
            announced: Cell::new(false),
        }
    }
}

impl PublisherBarrier {
    fn wire(cores: &mut [CoreEnds]) {
        let n = cores.len();
        for j in 0..n {
            // Each of the n-1 others sends once: the channel never fills.
            let (tx, rx) = flume::bounded(n.saturating_sub(1));
            cores[j].barrier.closed_in = rx;
            for (i, core) in cores.iter_mut().enumerate() {
                if i != j {
                    core.barrier.closed_out.push(tx.clone());
                }
            }
        }
    }

    /// Tells every other executor that this one publishes no more (once).
    pub fn announce_closed(&self) {
        if self.announced.replace(true) {
            return;
        }
        for tx in &self.closed_out {
            let _ = tx.try_send(());
        }
    }

    /// Announces, then waits until every other executor has announced too, or
    /// [`limits::SHUTDOWN_PUBLISHERS_WAIT`] passed (an executor that is wedged or already
    /// gone does not hold the others' stop).
    pub async fn all_closed(&self) {
        self.announce_closed();
        let others = self.closed_out.len();
        let notices = async {
            for _ in 0..others {
                if self.closed_in.recv_async().await.is_err() {
                    return;
                }
            }
        };
        future::or(
            notices,
            glommio::timer::sleep(limits::SHUTDOWN_PUBLISHERS_WAIT),
        )
        .await;
    }
}

impl Drop for PublisherBarrier {
    /// An executor that ends without reaching the barrier (a stop during startup, a failure)
    /// publishes nothing more either: the others need not wait for it.
    fn drop(&mut self) {
        self.announce_closed();
    }
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

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// The barrier ends on the others' notices, not on its deadline, including the notice of
    /// an executor that ended without reaching it (its barrier was dropped).
    #[test]
    fn the_stop_barrier_ends_on_messages_from_every_other_executor() {
        let mut cores = Wiring::new(3).into_cores();
        let mut barriers: Vec<PublisherBarrier> = cores
            .iter_mut()
            .map(|c| std::mem::take(&mut c.barrier))
            .collect();
        drop(cores);
        let ex = glommio::LocalExecutorBuilder::default().make().unwrap();
        ex.run(async move {
            drop(barriers.pop()); // executor 2 ended while starting
            barriers[1].announce_closed();
            let started = Instant::now();
            barriers[0].all_closed().await;
            assert!(
                started.elapsed() < limits::SHUTDOWN_PUBLISHERS_WAIT,
                "ended by the notices, not by the deadline"
            );
            barriers[1].all_closed().await;
        });
    }
}
