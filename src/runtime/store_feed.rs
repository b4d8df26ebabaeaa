//! An executor's feed of the replay store: every page the executor publishes for the logs it
//! owns is appended to that log's store, in order, by one writer task, off the publishing
//! path (publishing is synchronous; disk writes are io_uring operations awaited here).
//!
//! # Invariants worth naming
//!
//! - Only the executor that owns a log writes its store, so a log's records are in fetch order
//!   and no lock is needed; readers on other executors read the files (see
//!   [`crate::replay::store`]).
//! - The queue towards the writer is bounded ([`limits::REPLAY_WRITE_QUEUE_PAGES`]). A page
//!   that finds it full is streamed live but not stored: counted, logged with its range, and a
//!   resuming client that needs it gets a `gap` message (never a silent one).
//! - The state file never says more than the store holds: a log's saved cursor is capped at
//!   the first index of its oldest page still waiting for the writer
//!   ([`StoreFeed::unwritten_from`]), so after a crash the server re-fetches what the store
//!   missed, and the store drops what it already holds (never stored twice).

use std::{
    cell::{Cell, RefCell},
    collections::{HashMap, VecDeque},
    rc::Rc,
};

use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};

use super::mesh::FrameBatch;
use crate::{
    api::{StoreFacts, StoreLog},
    limits,
    replay::store::{Held, LogAbout, LogWriter, StoreConfig},
};

/// One page on its way to the store.
struct Page {
    log_id: [u8; 32],
    about: Rc<LogAbout>,
    frames: FrameBatch,
}

/// The publishing side of an executor's store writer.
pub struct StoreFeed {
    sender: LocalSender<Page>,
    /// Per log, the first index of each page queued and not yet written, oldest first.
    unwritten: RefCell<HashMap<[u8; 32], VecDeque<u64>>>,
    /// Pages that found the queue full (streamed, not stored).
    pages_dropped: Cell<u64>,
    /// Pages whose write failed (streamed, not stored).
    write_failures: Cell<u64>,
    /// What the store holds of each log, as its writer said after its last page (`/api/stats`,
    /// `/api/logs`).
    held: RefCell<HashMap<[u8; 32], StoreLog>>,
}

impl std::fmt::Debug for StoreFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreFeed")
            .field("pages_dropped", &self.pages_dropped.get())
            .field("write_failures", &self.write_failures.get())
            .finish_non_exhaustive()
    }
}

impl StoreFeed {
    /// Starts the writer task on this executor.
    pub fn start(config: Rc<StoreConfig>) -> Rc<StoreFeed> {
        let (sender, receiver) = local_channel::new_bounded(limits::REPLAY_WRITE_QUEUE_PAGES);
        let feed = Rc::new(StoreFeed {
            sender,
            unwritten: RefCell::new(HashMap::new()),
            pages_dropped: Cell::new(0),
            write_failures: Cell::new(0),
            held: RefCell::new(HashMap::new()),
        });
        glommio::spawn_local(write_pages(receiver, config, Rc::downgrade(&feed))).detach();
        feed
    }

    /// Queues a published page of `about`'s log for the store.
    pub fn offer(&self, log_id: [u8; 32], about: &Rc<LogAbout>, frames: &FrameBatch) {
        let Some(first) = frames.first().map(|f| f.meta.index) else {
            return;
        };
        let page = Page {
            log_id,
            about: Rc::clone(about),
            frames: frames.clone(),
        };
        if self.sender.try_send(page).is_err() {
            self.pages_dropped.set(self.pages_dropped.get() + 1);
            let last = frames.last().map_or(first, |f| f.meta.index);
            tracing::warn!(log = %about.url, first, last, "replay store queue full: page streamed but not stored");
            return;
        }
        self.unwritten
            .borrow_mut()
            .entry(log_id)
            .or_default()
            .push_back(first);
    }

    /// The first index of `log_id`'s oldest page not yet in the store.
    pub fn unwritten_from(&self, log_id: &[u8; 32]) -> Option<u64> {
        self.unwritten
            .borrow()
            .get(log_id)
            .and_then(|q| q.front().copied())
    }

    /// Pages streamed but not stored (queue full, or a failed write).
    pub fn pages_not_stored(&self) -> u64 {
        self.pages_dropped.get() + self.write_failures.get()
    }

    /// Each written log's store (held range, bytes, damage) and the pages not stored.
    pub fn facts(&self) -> StoreFacts {
        StoreFacts {
            logs: self.held.borrow().values().cloned().collect(),
            pages_not_stored: self.pages_not_stored(),
        }
    }

    fn note_held(&self, log_id: [u8; 32], url: &str, held: Held) {
        let mut logs = self.held.borrow_mut();
        let log = logs.entry(log_id).or_insert_with(|| StoreLog {
            log_id,
            url: url.to_owned(),
            held: Held::default(),
        });
        log.held = held;
    }

    fn written(&self, log_id: &[u8; 32], failed: bool) {
        if failed {
            self.write_failures.set(self.write_failures.get() + 1);
        }
        let mut unwritten = self.unwritten.borrow_mut();
        if let Some(queue) = unwritten.get_mut(log_id) {
            queue.pop_front();
            if queue.is_empty() {
                unwritten.remove(log_id);
            }
        }
    }
}

/// The writer task: appends each page to its log's store, opening (and recovering) a log's
/// store the first time one of its pages comes.
async fn write_pages(
    receiver: LocalReceiver<Page>,
    config: Rc<StoreConfig>,
    feed: std::rc::Weak<StoreFeed>,
) {
    let mut writers: HashMap<[u8; 32], LogWriter> = HashMap::new();
    while let Some(page) = receiver.recv().await {
        let failed = append(&mut writers, &config, &page).await.is_err();
        let Some(feed) = feed.upgrade() else {
            return;
        };
        feed.written(&page.log_id, failed);
        if let Some(writer) = writers.get(&page.log_id) {
            feed.note_held(page.log_id, &page.about.url, writer.held());
        }
    }
}

async fn append(
    writers: &mut HashMap<[u8; 32], LogWriter>,
    config: &StoreConfig,
    page: &Page,
) -> std::io::Result<()> {
    let writer = match writers.entry(page.log_id) {
        std::collections::hash_map::Entry::Occupied(open) => open.into_mut(),
        std::collections::hash_map::Entry::Vacant(slot) => {
            let key = crate::replay::token::log_key(&page.about.url);
            let writer = LogWriter::open(config, key, &page.about)
                .await
                .inspect_err(|e| {
                    tracing::error!(log = %page.about.url, error = %e, "cannot open the log's replay store");
                })?;
            slot.insert(writer)
        }
    };
    writer.append(&page.frames).await.map(|_| ()).inspect_err(|e| {
        tracing::error!(log = %page.about.url, error = %e, "replay store write failed: page streamed but not stored");
    })
}
