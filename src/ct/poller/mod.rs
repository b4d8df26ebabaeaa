//! Log pollers: one task per CT log, on the executor that owns the log.
//!
//! A poller watches the log's tree head (get-sth or checkpoint), fetches every entry between its
//! cursor and the head in index order, and hands each page of decoded entries to an
//! [`EntrySink`]. The log's position (cursor, verified tree size, skipped entries) lives in its
//! [`LogProgress`], which only the poller writes: `consume_page` is the one step that advances
//! the cursor, and only past entries the sink took or that can never be decoded or encoded
//! (counted and logged with their index); anything that failed to *fetch* is fetched again after
//! a backoff.
//!
//! While catching up a poller keeps a few requests in flight ([`pipeline`]) but still emits in
//! index order: results are awaited front to back, and a short page re-queues the missing tail of
//! its window at the front before any later window is used.

pub mod backfill;
pub mod fetch;
pub mod pipeline;
pub mod progress;
pub mod rfc6962;
pub mod tiled;

pub use backfill::Backfill;

#[cfg(test)]
mod consume_tests;

use std::{
    cell::Cell,
    rc::Rc,
    time::{Duration, Instant},
};

use crate::{
    ct::{entry::LogEntry, http::HttpClient, log_list::LogInfo},
    metrics::LogStats,
};
pub use progress::{LogPosition, LogProgress};

/// Receives decoded entries, in index order, from the pollers of one executor.
pub trait EntrySink {
    /// Publishes one page of a log: `entries` are in index order, at or past the log's cursor
    /// (the page's undecodable entries are missing). Says whether it took the page; the
    /// poller advances the log's cursor past the page only if it did.
    fn emit(&self, log: &LogCtx, entries: Vec<LogEntry>) -> Emitted;
}

/// What an [`EntrySink`] did with a page.
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub enum Emitted {
    /// Published; the entries it could not encode (index, reason) are skipped for good.
    Taken { unencodable: Vec<(u64, String)> },
    /// Not published: the sink takes no more pages (the executor is shutting down and has
    /// taken its final cursors). The cursor stays before the page, so the page is fetched
    /// again after a restart, and the poller stops.
    Refused,
}

impl Emitted {
    /// Published, every entry encoded.
    pub fn taken() -> Emitted {
        Emitted::Taken {
            unencodable: Vec::new(),
        }
    }
}

/// One followed log: its list entry, its counters, its position and where its polls fall in
/// the interval.
pub struct LogCtx {
    pub info: LogInfo,
    pub stats: Rc<LogStats>,
    /// Written only by this log's poller.
    pub progress: Rc<LogProgress>,
    pub slot: PollSlot,
}

/// Where a log's head polls fall within the poll interval: slot `index` of `of` evenly spaced
/// ones, counted from a clock every executor shares ([`PollerEnv::clock_epoch`]).
///
/// Why: each poll that finds new entries becomes one burst of writes to every client, and a
/// burst takes milliseconds to leave. Pollers on free-running clocks (sleep a whole interval
/// after each round) drift into each other, so bursts of different logs pile up and the last
/// entries of a pile wait for all the others. Fixed, evenly spaced slots keep the bursts apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollSlot {
    pub index: u32,
    pub of: u32,
}

impl PollSlot {
    /// The only slot of a single log.
    pub const ONLY: PollSlot = PollSlot { index: 0, of: 1 };

    /// Slot `index` of `of` (clamped into range).
    pub fn new(index: usize, of: usize) -> PollSlot {
        let of = u32::try_from(of.max(1)).unwrap_or(u32::MAX);
        let index = u32::try_from(index).unwrap_or(u32::MAX).min(of - 1);
        PollSlot { index, of }
    }

    /// The slot's offset into an interval.
    pub fn phase(self, interval: Duration) -> Duration {
        let nanos = interval.as_nanos() * u128::from(self.index) / u128::from(self.of.max(1));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// The first instant `epoch + phase + k * interval` (k ≥ 0) that is not before `not_before`.
pub fn next_tick(
    epoch: Instant,
    phase: Duration,
    interval: Duration,
    not_before: Instant,
) -> Instant {
    let first = epoch + phase;
    let Some(late) = not_before.checked_duration_since(first) else {
        return first;
    };
    let step = interval.as_nanos().max(1);
    let ticks = late.as_nanos().div_ceil(step);
    let offset = u64::try_from(ticks * step).unwrap_or(u64::MAX);
    first + Duration::from_nanos(offset)
}

impl LogCtx {
    /// The `cert_link` of the entry at `index`.
    pub fn cert_link(&self, index: u64) -> String {
        match self.info.kind {
            crate::ct::log_list::LogKind::Rfc6962 => {
                crate::ct::rfc6962::cert_link(&self.info.url, index)
            }
            crate::ct::log_list::LogKind::StaticCt => {
                let width = crate::ct::static_ct::TILE_WIDTH;
                crate::ct::static_ct::data_tile_url(
                    &self.info.url,
                    index / width as u64,
                    width as u16,
                )
            }
        }
    }
}

/// What every poller of an executor shares.
pub struct PollerEnv {
    pub http: Rc<HttpClient>,
    pub sink: Rc<dyn EntrySink>,
    pub backfill: Backfill,
    pub poll_interval: Duration,
    /// The origin of every log's poll slots; one instant for the whole process, so the slots
    /// of logs on different executors interleave too.
    pub clock_epoch: Instant,
    pub timing: PollerTiming,
}

/// The pollers' fixed delays; [`Default`] takes them from [`crate::limits`]. Only tests pick
/// others, so that a scenario with a dozen failures runs in milliseconds instead of minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollerTiming {
    /// Bounds of the error backoff ([`crate::ct::pacing::Backoff`]).
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// No poller's first request is earlier than this (it then waits for its slot).
    pub start_delay_min: Duration,
    /// How long a log must keep serving a data tile broken in the same way before the
    /// readable part is used and the rest skipped (see `tiled::BreakJudge`).
    pub broken_tile_confirm_after: Duration,
}

impl Default for PollerTiming {
    fn default() -> Self {
        PollerTiming {
            backoff_min: crate::limits::BACKOFF_MIN,
            backoff_max: crate::limits::BACKOFF_MAX,
            start_delay_min: crate::limits::FETCHER_START_DELAY_MIN,
            broken_tile_confirm_after: crate::limits::BROKEN_TILE_CONFIRM_AFTER,
        }
    }
}

/// Cancels a poller: set by the executor when the log leaves the list or at shutdown. The
/// poller's sleeps wait on it ([`StopFlag::wait`]), so a sleeping poller ends at the stop and
/// never wakes up just to look at the flag (an idle server stays asleep).
#[derive(Default)]
pub struct StopFlag {
    stopped: Cell<bool>,
    /// Tasks waiting for the stop, each under the id of its [`StopWait`].
    waiters: std::cell::RefCell<Vec<(u64, std::task::Waker)>>,
    next_waiter: Cell<u64>,
}

impl StopFlag {
    pub fn stop(&self) {
        self.stopped.set(true);
        for (_, waker) in self.waiters.take() {
            waker.wake();
        }
    }
    pub fn is_stopped(&self) -> bool {
        self.stopped.get()
    }
    /// Completes once the poller is stopped.
    pub fn wait(&self) -> StopWait<'_> {
        let id = self.next_waiter.get();
        self.next_waiter.set(id.wrapping_add(1));
        StopWait { flag: self, id }
    }
}

/// The future of [`StopFlag::wait`]; dropping it forgets its waker, so the list holds only
/// live waits.
pub struct StopWait<'a> {
    flag: &'a StopFlag,
    id: u64,
}

impl std::future::Future for StopWait<'_> {
    type Output = ();
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.flag.is_stopped() {
            return std::task::Poll::Ready(());
        }
        let mut waiters = self.flag.waiters.borrow_mut();
        match waiters.iter_mut().find(|(id, _)| *id == self.id) {
            Some((_, waker)) => waker.clone_from(cx.waker()),
            None => waiters.push((self.id, cx.waker().clone())),
        }
        std::task::Poll::Pending
    }
}

impl Drop for StopWait<'_> {
    fn drop(&mut self) {
        self.flag
            .waiters
            .borrow_mut()
            .retain(|(id, _)| *id != self.id);
    }
}

/// Runs the poller of `log` until `stop` is set. Its first request waits for its slot, so a
/// restart does not hit every log in the same instant either.
pub async fn run(env: Rc<PollerEnv>, log: Rc<LogCtx>, start_at: Option<u64>, stop: Rc<StopFlag>) {
    match log.info.kind {
        crate::ct::log_list::LogKind::Rfc6962 => rfc6962::run(env, log, start_at, stop).await,
        crate::ct::log_list::LogKind::StaticCt => tiled::run(env, log, start_at, stop).await,
    }
}

/// The loop every poller runs: at each tick of its slot, read the verified tree size and stream
/// from the cursor up to it; until stopped, or until a read-only log has been streamed to its
/// final tree head. A round that outlasts the interval skips the ticks it overran (the next
/// round starts at the slot's next tick, never in between). `start_at` is a saved cursor;
/// without one the backfill setting picks the start. Each round streams from the log's
/// [`LogProgress`] cursor, which only `consume_page` advances.
pub(crate) async fn follow<HF, CF>(
    client: &fetch::LogClient,
    start_at: Option<u64>,
    poll_head: impl Fn() -> HF,
    catch_up: impl Fn(u64, u64) -> CF,
) where
    HF: std::future::Future<Output = Option<u64>>,
    CF: std::future::Future<Output = Result<u64, pipeline::Aborted>>,
{
    let log = &client.log;
    let progress = &log.progress;
    let env = &client.env;
    // Before the first await: from here on the position is the poller's, and a saved cursor
    // is what the state file keeps even if the log never answers.
    if let Some(at) = start_at {
        progress.start_from(at);
    }
    let phase = log.slot.phase(env.poll_interval);
    let tick_after =
        |not_before: Instant| next_tick(env.clock_epoch, phase, env.poll_interval, not_before);
    let mut tick = tick_after(Instant::now() + env.timing.start_delay_min);
    client.sleep_until_unless_stopped(tick).await;
    while !client.stop.is_stopped() {
        let Some(size) = poll_head().await else {
            break;
        };
        debug_assert!(
            size <= progress.tree_size(),
            "streams only verified entries"
        );
        if !progress.position().started {
            progress.start_from(client.env.backfill.start_index(size));
        }
        let next = progress.cursor();
        if next < size {
            let reached = match catch_up(next, size).await {
                Ok(reached) => reached,
                Err(pipeline::Aborted {
                    error: fetch::FetchError::Stopped,
                    ..
                }) => break,
                Err(pipeline::Aborted { cursor, error }) => {
                    tracing::error!(log = %log.info.description, "catch-up aborted at {cursor}: {error}");
                    cursor
                }
            };
            debug_assert_eq!(reached, progress.cursor(), "the pipeline and the log agree");
        }
        if final_size_reached(log, progress.cursor()) {
            tracing::info!(log = %log.info.description, "read-only log fully streamed; poller idle");
            break;
        }
        tick = tick_after(Instant::now().max(tick + env.poll_interval));
        client.sleep_until_unless_stopped(tick).await;
    }
}

/// A read-only log never grows past its final tree head.
fn final_size_reached(log: &LogCtx, cursor: u64) -> bool {
    matches!(log.info.state, crate::ct::log_list::LogState::Readonly { final_tree_size } if cursor >= final_tree_size)
}

/// One page of a log as a poller's consume step hands it on: the decodable entries of
/// `[start, end)` in index order, and the entries of that range that can never be decoded.
pub(crate) struct Page {
    pub start: u64,
    /// One past the page's last index: the cursor once the page is consumed.
    pub end: u64,
    pub entries: Vec<LogEntry>,
    pub undecodable: Vec<(u64, String)>,
}

impl Page {
    /// Entries in strictly increasing index order and every index inside `[start, end)`.
    fn is_well_formed(&self) -> bool {
        let inside = |i: &u64| (self.start..self.end).contains(i);
        self.start < self.end
            && self.entries.windows(2).all(|w| w[0].index < w[1].index)
            && self.entries.iter().map(|e| e.index).all(|i| inside(&i))
            && self.undecodable.iter().map(|(i, _)| i).all(inside)
    }
}

/// The pollers' consume step, and the only place a log's cursor advances: hands the page's
/// entries to the sink and, once the sink has taken them, records the entries skipped for good
/// (undecodable, then unencodable) and moves the cursor to the end of the page. A page the sink
/// refuses leaves the cursor before it and stops the poller ([`fetch::FetchError::Stopped`]).
/// Returns the new cursor.
pub(crate) fn consume_page(
    sink: &dyn EntrySink,
    log: &LogCtx,
    page: Page,
) -> Result<u64, fetch::FetchError> {
    let progress = &log.progress;
    debug_assert_eq!(page.start, progress.cursor(), "a page starts at the cursor");
    debug_assert!(page.is_well_formed(), "page {}..{}", page.start, page.end);
    match sink.emit(log, page.entries) {
        Emitted::Refused => Err(fetch::FetchError::Stopped),
        Emitted::Taken { unencodable } => {
            for (index, reason) in page.undecodable.into_iter().chain(unencodable) {
                progress.record_skip(index, reason);
            }
            progress.advance(page.end);
            Ok(page.end)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_slots_spread_evenly_over_the_interval() {
        let interval = Duration::from_millis(1000);
        let phases: Vec<u128> = (0..4)
            .map(|i| PollSlot::new(i, 4).phase(interval).as_millis())
            .collect();
        assert_eq!(phases, [0, 250, 500, 750]);
        assert_eq!(PollSlot::ONLY.phase(interval), Duration::ZERO);
        // Out-of-range input is clamped, never divides by zero.
        assert_eq!(PollSlot::new(9, 4), PollSlot { index: 3, of: 4 });
        assert_eq!(PollSlot::new(0, 0), PollSlot::ONLY);
    }

    #[test]
    fn next_tick_is_the_first_slot_tick_not_before_the_deadline() {
        let epoch = Instant::now();
        let ms = Duration::from_millis;
        let tick = |phase: u64, not_before: u64| {
            next_tick(epoch, ms(phase), ms(1000), epoch + ms(not_before)).duration_since(epoch)
        };
        assert_eq!(tick(250, 0), ms(250), "before the first tick");
        assert_eq!(tick(250, 250), ms(250), "exactly on a tick");
        assert_eq!(tick(250, 251), ms(1250), "just after a tick");
        assert_eq!(tick(250, 3100), ms(3250), "several intervals later");
        // A round that ends on time lands exactly one interval on: the schedule does not drift.
        let first = next_tick(epoch, ms(250), ms(1000), epoch);
        let mut t = first;
        for _ in 0..1000 {
            t = next_tick(epoch, ms(250), ms(1000), t + ms(1000));
        }
        assert_eq!(t.duration_since(first), ms(1_000_000));
    }
}

#[cfg(test)]
mod stop_flag_tests {
    use std::{rc::Rc, time::Duration};

    use super::StopFlag;

    #[test]
    fn a_stop_wakes_a_waiting_task_and_dropped_waits_are_forgotten() {
        let ex = glommio::LocalExecutorBuilder::default().make().unwrap();
        ex.run(async {
            let flag = Rc::new(StopFlag::default());
            // A wait that times out leaves nothing behind.
            let timed_out = futures_lite::future::or(
                async {
                    flag.wait().await;
                    false
                },
                async {
                    glommio::timer::sleep(Duration::from_millis(1)).await;
                    true
                },
            )
            .await;
            assert!(timed_out);
            assert!(flag.waiters.borrow().is_empty());
            let waiter = glommio::spawn_local({
                let flag = flag.clone();
                async move { flag.wait().await }
            });
            glommio::executor().yield_task_queue_now().await;
            assert_eq!(flag.waiters.borrow().len(), 1);
            flag.stop();
            waiter.await;
            assert!(flag.is_stopped());
            flag.wait().await;
        });
    }
}
