//! The per-core hub: a bounded history of published frames and the list of writers waiting
//! for more.
//!
//! # Layout
//!
//! Every published item gets the next sequence number and is appended to a ring of at most
//! `history_frames` entries; the oldest entry falls off. A session writer keeps its own cursor
//! (the sequence number of the next entry it has not sent) and copies `[cursor, head)` into its
//! write buffer whenever it runs. Publishing therefore costs O(1) whatever the number of
//! sessions, and a session's backlog is simply `head - cursor`.
//!
//! When any client of the core filters or dedups, [`Hub::publish`] matches the certificate once
//! against the core's [`CoreFilters`] and keeps the result ([`Routing`]) in the entry; a
//! filtering writer passes over the entries whose routing does not name it.
//!
//! Writers with nothing to send register a [`WriterSignal`] and sleep. [`Hub::flush`], called by
//! the producer after a batch of publishes, wakes each registered writer exactly once, so a batch
//! of N frames costs one wake (and one write) per client, not N.
//!
//! # Invariants worth naming
//!
//! - `oldest_seq() + history.len() == head_seq()`; sequence numbers never repeat or go back.
//! - The ring never holds more than `history_frames` entries, so the hub's memory is bounded no
//!   matter how far behind any session is.
//! - A signal sits in the waiting list at most once (`queued` flag), so the list is bounded by
//!   the number of live sessions plus the dead ones not yet compacted away.

use std::{
    cell::{Cell, RefCell},
    collections::VecDeque,
    rc::Rc,
    sync::Arc,
    task::Waker,
};

use bytes::Bytes;

use crate::{
    filter::{CoreFilters, Routing, Subscription},
    frame::{self, Frames, StreamKind},
    limits::HUB_WAITING_COMPACT_MIN as WAITING_COMPACT_MIN,
    replay::recent::RecentFrames,
};

/// One entry of the history ring.
#[derive(Debug, Clone)]
enum Entry {
    /// A certificate: each stream takes its own form. With it, when any client of this core
    /// filters or dedups, which of them want it (matched once, at publish).
    Cert(Arc<Frames>, Option<Box<Routing>>),
    /// Bytes every stream receives unchanged (heartbeat JSON and ping).
    Broadcast(Bytes),
}

impl Entry {
    fn bytes_for(&self, kind: StreamKind) -> &Bytes {
        match self {
            Entry::Cert(frames, _) => frames.for_stream(kind),
            Entry::Broadcast(bytes) => bytes,
        }
    }

    /// Whether a client with `sub` (if it filters) gets this entry; broadcasts go to all.
    fn wanted_by(&self, sub: Option<&Subscription>) -> bool {
        match (self, sub) {
            (Entry::Cert(_, routing), Some(sub)) => sub.wants(routing.as_deref()),
            _ => true,
        }
    }
}

/// A choosing session's verdict on one entry (see [`Hub::with_picked_since`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pick {
    Send,
    /// Consumed without sending (the client already has it).
    Skip,
    /// Not consumed: the session must do something else first.
    Stop,
}

/// What a sleeping session writer leaves in the hub so a flush (or its own reader) can wake it.
#[derive(Debug, Default)]
pub(crate) struct WriterSignal {
    waker: RefCell<Option<Waker>>,
    /// True while this signal sits in the hub's waiting list; keeps it there at most once.
    queued: Cell<bool>,
    /// The session's cursor, published by its writer so the hub can release entries every
    /// session has sent.
    cursor: Cell<u64>,
}

impl WriterSignal {
    /// Remembers the waker of the task that will sleep on this signal.
    pub(crate) fn set_waker(&self, waker: &Waker) {
        let mut slot = self.waker.borrow_mut();
        match slot.as_ref() {
            Some(old) if old.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    /// Records the writer's cursor (the next sequence number it will send). A writer only ever
    /// moves forward (it sends, or skips what the hub no longer holds): a cursor going back
    /// would resend frames, so it is a bug and stops the process.
    pub(crate) fn set_cursor(&self, cursor: u64) {
        assert!(
            cursor >= self.cursor.get(),
            "session cursor moved backwards: {} -> {cursor}",
            self.cursor.get()
        );
        self.cursor.set(cursor);
    }

    /// Wakes the sleeping writer, if any. Waking twice is harmless: the waker is taken.
    pub(crate) fn wake(&self) {
        let waker = self.waker.borrow_mut().take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Result of copying a session's backlog into its write buffer (tests).
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Copied {
    /// Entries appended to the buffer.
    pub(crate) frames: u64,
}

/// Per-core fan-out point between the producers (local fetchers, cross-core pump, heartbeat)
/// and the session writers. `!Send`: use it as `Rc<Hub>` on its own executor.
pub struct Hub {
    history: RefCell<VecDeque<Entry>>,
    history_frames_max: usize,
    /// Sequence number the next published entry gets.
    head_seq: Cell<u64>,
    /// Writers asleep until the next flush.
    waiting: RefCell<Vec<Rc<WriterSignal>>>,
    /// Spare list swapped in during a flush so the allocation is reused.
    waking: RefCell<Vec<Rc<WriterSignal>>>,
    /// Waiting-list length at which dead signals are swept out.
    compact_at: Cell<usize>,
    latest_messages: usize,
    /// Every live session's signal: their cursors say which entries are still needed.
    sessions: RefCell<Vec<Rc<WriterSignal>>>,
    /// This core's client filters, matched once per published certificate.
    filters: Rc<CoreFilters>,
    /// The replay store's memory tier, when there is a store: every certificate published here
    /// is kept there too (shared, bounded by bytes).
    recent: RefCell<Option<Rc<RecentFrames>>>,
}

impl std::fmt::Debug for Hub {
    // The history holds megabytes of frames: show its shape, not its bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("head_seq", &self.head_seq())
            .field("history_len", &self.history_len())
            .field("history_frames_max", &self.history_frames_max)
            .field("waiting_writers", &self.waiting_writers())
            .finish_non_exhaustive()
    }
}

impl Hub {
    /// A hub keeping `history_frames` entries (at least `latest_messages`, so `/latest.json` can
    /// always be served from the history) and serving the last `latest_messages` lite frames.
    pub fn new(history_frames: usize, latest_messages: usize) -> Self {
        let history_frames_max = history_frames.max(latest_messages).max(1);
        Self {
            history: RefCell::new(VecDeque::new()),
            history_frames_max,
            head_seq: Cell::new(0),
            waiting: RefCell::new(Vec::new()),
            waking: RefCell::new(Vec::new()),
            compact_at: Cell::new(WAITING_COMPACT_MIN),
            latest_messages,
            sessions: RefCell::new(Vec::new()),
            filters: Rc::default(),
            recent: RefCell::new(None),
        }
    }

    /// A hub with the bounds from [`crate::limits`].
    pub fn with_default_limits() -> Self {
        Self::new(
            crate::limits::HUB_HISTORY_FRAMES,
            crate::limits::LATEST_MESSAGES,
        )
    }

    /// Appends one certificate's frames. O(1); nobody is woken until [`Hub::flush`]. Flush at
    /// least every `history - client_queue_frames_max` publishes, or clients asleep during the
    /// burst lose frames they could have had.
    pub fn publish(&self, frames: Arc<Frames>) {
        debug_assert!(
            StreamKind::ALL
                .iter()
                .all(|&k| frame::is_whole_frame(frames.for_stream(k))),
            "a published certificate frame is not one whole WebSocket frame"
        );
        let routing = self.filters.route(&frames.meta);
        if let Some(recent) = self.recent.borrow().as_ref() {
            recent.record(&frames);
        }
        self.push(Entry::Cert(frames, routing));
    }

    /// Appends bytes that every stream receives as they are: the JSON heartbeat frame followed
    /// by a ping frame. O(1); nobody is woken until [`Hub::flush`].
    pub fn publish_heartbeat(&self, bytes: Bytes) {
        self.push(Entry::Broadcast(bytes));
    }

    /// Appends a close frame (1001, going away) that every session sends after everything
    /// before it: the last entry at shutdown.
    pub fn publish_going_away(&self) {
        let mut payload = 1001u16.to_be_bytes().to_vec();
        payload.extend_from_slice(b"server shutting down");
        self.push(Entry::Broadcast(frame::encode(0x8, &payload)));
    }

    fn push(&self, entry: Entry) {
        let mut history = self.history.borrow_mut();
        if history.len() == self.history_frames_max {
            history.pop_front();
        }
        history.push_back(entry);
        self.head_seq.set(self.head_seq.get() + 1);
        assert!(
            history.len() <= self.history_frames_max,
            "hub history over its bound"
        );
    }

    /// Starts tracking a new session whose writer begins at `seq` (the head for a new client:
    /// it gets what is published after it connects; a resuming session starts
    /// at the oldest entry held: it filters what it was already sent by log index, and an
    /// entry published just before it connected may not be in the replay store yet).
    pub(crate) fn attach_at(&self, signal: &Rc<WriterSignal>, seq: u64) {
        let seq = seq.clamp(self.oldest_seq(), self.head_seq());
        signal.set_cursor(seq);
        self.sessions.borrow_mut().push(Rc::clone(signal));
    }

    /// Releases the entries every session has already sent, keeping the newest
    /// [`crate::limits::HUB_RETAIN_ENTRIES`] for the example and latest endpoints. The history
    /// then holds only what the slowest client still needs (itself bounded by the client queue
    /// bound and `history_frames`), not a fixed window of frames: memory follows lag, not rate.
    /// O(sessions), once per flush.
    pub fn trim(&self) {
        let mut sessions = self.sessions.borrow_mut();
        sessions.retain(|s| Rc::strong_count(s) > 1);
        let head = self.head_seq();
        let needed = sessions
            .iter()
            .map(|s| s.cursor.get())
            .min()
            .unwrap_or(head);
        let keep_from = needed.min(head.saturating_sub(crate::limits::HUB_RETAIN_ENTRIES as u64));
        let mut history = self.history.borrow_mut();
        let oldest = head - history.len() as u64;
        let release = keep_from.saturating_sub(oldest).min(history.len() as u64);
        history.drain(..release as usize);
        // Give back the ring's memory after a burst (a slow client caught up or left).
        let want = 2 * history.len().max(crate::limits::HUB_RETAIN_ENTRIES);
        if history.capacity() > 2 * want {
            history.shrink_to(want);
        }
    }

    /// This core's client filters (register a client's with [`crate::filter::subscribe`]).
    pub fn filters(&self) -> &Rc<CoreFilters> {
        &self.filters
    }

    /// Keeps every certificate published from now on in `recent` too (the replay store's
    /// memory tier).
    pub fn keep_recent(&self, recent: Rc<RecentFrames>) {
        *self.recent.borrow_mut() = Some(recent);
    }

    /// Sessions being tracked (dead ones included until the next trim).
    pub fn sessions(&self) -> usize {
        self.sessions.borrow().len()
    }

    /// Wakes every writer that went to sleep waiting for new entries, once each, then releases
    /// entries no session needs any more.
    pub fn flush(&self) {
        self.trim();
        let mut waking = self.waking.borrow_mut();
        std::mem::swap(&mut *waking, &mut *self.waiting.borrow_mut());
        for signal in waking.drain(..) {
            signal.queued.set(false);
            signal.wake();
        }
    }

    /// Sequence number the next published entry will get (= entries published so far).
    pub fn head_seq(&self) -> u64 {
        self.head_seq.get()
    }

    /// Sequence number of the oldest entry still held.
    pub fn oldest_seq(&self) -> u64 {
        self.head_seq.get() - self.history.borrow().len() as u64
    }

    /// Entries currently held (bounded by the history size).
    pub fn history_len(&self) -> usize {
        self.history.borrow().len()
    }

    /// The most entries the history ever holds.
    pub fn history_frames_max(&self) -> usize {
        self.history_frames_max
    }

    /// Writers currently registered for the next flush (dead ones included until swept).
    pub fn waiting_writers(&self) -> usize {
        self.waiting.borrow().len()
    }

    /// Puts `signal` on the waiting list unless it is already there.
    pub(crate) fn register(&self, signal: &Rc<WriterSignal>) {
        if signal.queued.replace(true) {
            return;
        }
        let mut waiting = self.waiting.borrow_mut();
        waiting.push(Rc::clone(signal));
        if waiting.len() >= self.compact_at.get() {
            // A signal only the hub still references belongs to a finished session; sweeping
            // when the list doubles keeps this O(1) amortized and the list bounded without a
            // flush (a quiet stream with heavy connection churn).
            waiting.retain(|s| Rc::strong_count(s) > 1);
            self.compact_at
                .set((waiting.len() * 2).max(WAITING_COMPACT_MIN));
        }
    }

    /// Appends the `kind` form of every entry from `*cursor` to the head to `out`, stopping
    /// before `out` would pass `bytes_max` (but always taking at least one entry): the copying
    /// form of [`Hub::frames_since`], kept for the tests of the history's bounds.
    #[cfg(test)]
    pub(crate) fn copy_since(
        &self,
        kind: StreamKind,
        cursor: &mut u64,
        out: &mut Vec<u8>,
        bytes_max: usize,
    ) -> Copied {
        let room = bytes_max.saturating_sub(out.len());
        let ((), n) = self.with_frames_since(kind, *cursor, room, usize::MAX, None, |frames| {
            for f in frames {
                out.extend_from_slice(f);
            }
        });
        *cursor += n;
        Copied { frames: n }
    }

    /// Calls `f` with the `kind` form of every entry from `cursor` to the head, borrowed from
    /// the history (no reference count is touched: the frames are shared by every core, and
    /// bumping their counts from two cores per client per frame would bounce cache lines): at
    /// most `count_max` entries and about `bytes_max` bytes, but at least one entry when there
    /// is one. Entries a filtering client (`sub`) does not want are passed over without being
    /// given. Returns `f`'s result and how many entries the cursor moves past.
    pub(crate) fn with_frames_since<R>(
        &self,
        kind: StreamKind,
        cursor: u64,
        bytes_max: usize,
        count_max: usize,
        sub: Option<&Subscription>,
        f: impl FnOnce(&[&[u8]]) -> R,
    ) -> (R, u64) {
        let history = self.history.borrow();
        // A cursor below the oldest entry held (its writer polices it first) reads nothing.
        let start = self.position_of(&history, cursor).unwrap_or(history.len());
        let mut slices: Vec<&[u8]> = Vec::new();
        let mut bytes = 0;
        let mut passed = 0u64;
        for entry in history.range(start..) {
            if slices.len() >= count_max.max(1) {
                break;
            }
            if !entry.wanted_by(sub) {
                passed += 1;
                continue;
            }
            let frame = entry.bytes_for(kind);
            if !slices.is_empty() && bytes + frame.len() > bytes_max {
                break;
            }
            bytes += frame.len();
            slices.push(frame);
        }
        let n = slices.len() as u64 + passed;
        (f(&slices), n)
    }

    /// Where sequence number `cursor` sits in `history` (`None`: released already). A writer's
    /// cursor comes from this hub's head: one past it means two hubs were mixed up or a cursor
    /// was made up, and the bytes sent would not be what the client expects, so it stops the
    /// process.
    fn position_of(&self, history: &VecDeque<Entry>, cursor: u64) -> Option<usize> {
        let head = self.head_seq.get();
        assert!(
            cursor <= head,
            "session cursor {cursor} is past the hub head {head}"
        );
        let oldest = head - history.len() as u64;
        usize::try_from(cursor.checked_sub(oldest)?).ok()
    }

    /// [`Hub::with_frames_since`] for a session that chooses entry by entry: `pick` sees each
    /// certificate's frames (`None` for broadcasts) and says whether to send it, skip it, or
    /// stop before it. Returns `f`'s result and how many entries were consumed (sent or
    /// skipped). Borrowed as in `with_frames_since`.
    pub(crate) fn with_picked_since<R>(
        &self,
        kind: StreamKind,
        cursor: u64,
        bytes_max: usize,
        count_max: usize,
        mut pick: impl FnMut(Option<&Frames>) -> Pick,
        f: impl FnOnce(&[&[u8]]) -> R,
    ) -> (R, u64) {
        let history = self.history.borrow();
        // A cursor below the oldest entry held starts at the oldest: the session skips by log
        // index what it already has, and a hole sends it to the replay store.
        let start = self.position_of(&history, cursor).unwrap_or(0);
        let mut slices: Vec<&[u8]> = Vec::new();
        let (mut bytes, mut consumed) = (0, 0u64);
        for entry in history.range(start..).take(count_max.max(1)) {
            let frame = entry.bytes_for(kind);
            if !slices.is_empty() && bytes + frame.len() > bytes_max {
                break;
            }
            let frames = match entry {
                Entry::Cert(frames, _) => Some(&**frames),
                Entry::Broadcast(_) => None,
            };
            match pick(frames) {
                Pick::Send => {
                    bytes += frame.len();
                    slices.push(frame);
                }
                Pick::Skip => {}
                Pick::Stop => break,
            }
            consumed += 1;
        }
        (f(&slices), consumed)
    }

    /// Payload of the newest certificate frame of `kind`, for the `example.json` endpoints.
    pub fn latest_payload(&self, kind: StreamKind) -> Option<Bytes> {
        let history = self.history.borrow();
        history.iter().rev().find_map(|entry| match entry {
            Entry::Cert(frames, _) => Some(payload_of(frames.for_stream(kind))),
            Entry::Broadcast(_) => None,
        })
    }

    /// Payloads of the last `latest_messages` lite frames, newest first, for `/latest.json`.
    pub fn latest_lite_payloads(&self) -> Vec<Bytes> {
        let history = self.history.borrow();
        history
            .iter()
            .rev()
            .filter_map(|entry| match entry {
                Entry::Cert(frames, _) => Some(payload_of(&frames.lite)),
                Entry::Broadcast(_) => None,
            })
            .take(self.latest_messages)
            .collect()
    }
}

/// The payload of a frame as a cheap `Bytes` slice of the shared frame.
fn payload_of(frame_bytes: &Bytes) -> Bytes {
    let payload_len = frame::payload(frame_bytes).len();
    frame_bytes.slice(frame_bytes.len() - payload_len..)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{encode, OPCODE_TEXT};
    use std::task::{Wake, Waker};

    fn frames(i: usize) -> Arc<Frames> {
        Arc::new(Frames {
            lite: encode(OPCODE_TEXT, format!("{{\"l\":{i}}}").as_bytes()),
            full: encode(OPCODE_TEXT, format!("{{\"f\":{i}}}").as_bytes()),
            domains: encode(OPCODE_TEXT, format!("{{\"d\":{i}}}").as_bytes()),
            meta: Default::default(),
        })
    }

    struct CountWake(std::sync::atomic::AtomicUsize);
    impl Wake for CountWake {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn a_filtering_writer_gets_only_its_matches_and_its_cursor_passes_the_rest() {
        let hub = Hub::new(4096, 25);
        let spec = crate::filter::parse_query("domain=a.com").unwrap().unwrap();
        let sub = hub.filters().register(Arc::new(spec));
        let named = |i: usize, name: &str| {
            let mut f = (*frames(i)).clone();
            let names = [name.to_owned()];
            f.meta.facts = crate::filter::names::facts(&crate::filter::names::FactsInput {
                names: &names,
                issuer_cn: None,
                issuer_o: None,
                precert: false,
                log_name: "l",
                log_url: "u",
                issuance_key: None,
            });
            Arc::new(f)
        };
        hub.publish(named(0, "x.a.com"));
        hub.publish(named(1, "b.com"));
        hub.publish_heartbeat(encode(OPCODE_TEXT, b"hb"));
        hub.publish(named(3, "badexample-a.com"));
        hub.publish(named(4, "a.com"));
        let (got, moved) =
            hub.with_frames_since(StreamKind::Lite, 0, 1 << 20, 64, Some(&sub), |f| {
                f.iter()
                    .map(|b| frame::payload(b).to_vec())
                    .collect::<Vec<_>>()
            });
        assert_eq!(moved, 5, "the cursor passes every entry");
        let want: [&[u8]; 3] = [b"{\"l\":0}", b"hb", b"{\"l\":4}"];
        assert_eq!(got, want);
        let (all, _) = hub.with_frames_since(StreamKind::Lite, 0, 1 << 20, 64, None, |f| f.len());
        assert_eq!(all, 5, "an unfiltered writer gets everything");
    }

    #[test]
    fn trim_keeps_what_the_slowest_session_needs_and_no_more() {
        let hub = Hub::new(4096, 25);
        let slow = Rc::new(WriterSignal::default());
        let gone = Rc::new(WriterSignal::default());
        hub.attach_at(&slow, hub.head_seq());
        hub.attach_at(&gone, hub.head_seq());
        drop(gone);
        for i in 0..1000 {
            hub.publish(frames(i));
        }
        slow.set_cursor(500);
        hub.flush();
        assert_eq!(
            hub.oldest_seq(),
            500,
            "entries the slow session has not sent stay"
        );
        assert_eq!(hub.sessions(), 1, "a finished session is forgotten");
        slow.set_cursor(1000);
        hub.flush();
        assert_eq!(hub.history_len(), crate::limits::HUB_RETAIN_ENTRIES);
        assert_eq!(
            hub.latest_lite_payloads().len(),
            25,
            "/latest.json is still served"
        );
        drop(slow);
        for i in 0..10 {
            hub.publish(frames(i));
        }
        hub.flush();
        assert_eq!(
            hub.history_len(),
            crate::limits::HUB_RETAIN_ENTRIES,
            "no session: only the retained tail"
        );
    }

    #[test]
    fn history_is_bounded_and_sequence_is_monotonic() {
        let hub = Hub::new(8, 3);
        for i in 0..20 {
            hub.publish(frames(i));
        }
        assert_eq!(hub.head_seq(), 20);
        assert_eq!(hub.history_len(), 8);
        assert_eq!(hub.oldest_seq(), 12);
    }

    #[test]
    fn copy_since_takes_the_stream_form_in_order_and_respects_the_byte_bound() {
        let hub = Hub::new(16, 3);
        for i in 0..5 {
            hub.publish(frames(i));
        }
        let mut cursor = 1;
        let mut out = Vec::new();
        let copied = hub.copy_since(StreamKind::Full, &mut cursor, &mut out, 1 << 20);
        assert_eq!(copied.frames, 4);
        assert_eq!(cursor, 5);
        let mut expected = Vec::new();
        for i in 1..5 {
            expected.extend_from_slice(&frames(i).full);
        }
        assert_eq!(out, expected);

        // A bound smaller than one frame still moves one frame at a time.
        let mut cursor = 0;
        let mut out = Vec::new();
        let copied = hub.copy_since(StreamKind::Lite, &mut cursor, &mut out, 1);
        assert_eq!((copied.frames, cursor), (1, 1));
        assert_eq!(&out[..], &frames(0).lite[..]);
    }

    #[test]
    fn copy_since_refuses_a_cursor_that_fell_out_of_history() {
        let hub = Hub::new(4, 1);
        for i in 0..10 {
            hub.publish(frames(i));
        }
        let mut cursor = 2;
        let mut out = Vec::new();
        assert_eq!(
            hub.copy_since(StreamKind::Lite, &mut cursor, &mut out, 1 << 20)
                .frames,
            0
        );
        assert_eq!(cursor, 2);
        assert!(out.is_empty());
    }

    #[test]
    fn heartbeat_reaches_every_stream_but_not_latest() {
        let hub = Hub::new(8, 3);
        hub.publish(frames(7));
        hub.publish_heartbeat(Bytes::from_static(b"hb"));
        for kind in [StreamKind::Lite, StreamKind::Full, StreamKind::Domains] {
            let mut cursor = 1;
            let mut out = Vec::new();
            hub.copy_since(kind, &mut cursor, &mut out, 1 << 20);
            assert_eq!(out, b"hb");
        }
        assert_eq!(
            &hub.latest_payload(StreamKind::Full).unwrap()[..],
            b"{\"f\":7}"
        );
        assert_eq!(hub.latest_lite_payloads().len(), 1);
    }

    #[test]
    fn latest_lite_payloads_are_newest_first_and_bounded() {
        let hub = Hub::new(8, 3);
        assert!(hub.latest_payload(StreamKind::Lite).is_none());
        assert!(hub.latest_lite_payloads().is_empty());
        for i in 0..6 {
            hub.publish(frames(i));
        }
        let got: Vec<_> = hub.latest_lite_payloads();
        let got: Vec<&[u8]> = got.iter().map(|b| &b[..]).collect();
        assert_eq!(got, vec![&b"{\"l\":5}"[..], b"{\"l\":4}", b"{\"l\":3}"]);
    }

    #[test]
    fn flush_wakes_each_registered_writer_once() {
        let hub = Hub::new(8, 3);
        let counter = Arc::new(CountWake(Default::default()));
        let waker = Waker::from(Arc::clone(&counter));
        let signal = Rc::new(WriterSignal::default());
        signal.set_waker(&waker);
        hub.register(&signal);
        hub.register(&signal);
        assert_eq!(hub.waiting_writers(), 1);
        for i in 0..10 {
            hub.publish(frames(i));
        }
        hub.flush();
        hub.flush();
        assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(hub.waiting_writers(), 0);
    }

    #[test]
    fn dead_signals_are_swept_without_a_flush() {
        let hub = Hub::new(8, 3);
        for _ in 0..1000 {
            let signal = Rc::new(WriterSignal::default());
            hub.register(&signal);
        }
        assert!(hub.waiting_writers() < 2 * WAITING_COMPACT_MIN);
    }
}
