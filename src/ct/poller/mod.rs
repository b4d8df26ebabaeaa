//! Log pollers: one task per CT log, on the executor that owns the log.
//!
//! A poller watches the log's tree head (get-sth or checkpoint), fetches every entry between its
//! cursor and the head in index order, and hands each page of decoded entries to an
//! [`EntrySink`]. The cursor only moves forward and only past entries that were emitted or that
//! can never be decoded (counted and logged with their index); anything that failed to *fetch*
//! is fetched again after a backoff.
//!
//! While catching up a poller keeps a few requests in flight ([`pipeline`]) but still emits in
//! index order: results are awaited front to back, and a short page re-queues the missing tail of
//! its window at the front before any later window is used.

pub mod fetch;
pub mod pipeline;
pub mod rfc6962;
pub mod tiled;

#[cfg(test)]
mod tests;

use std::{
    cell::Cell,
    rc::Rc,
    time::{Duration, Instant},
};

use crate::{
    config::Backfill,
    ct::{entry::LogEntry, http::HttpClient, log_list::LogInfo},
    metrics::LogStats,
};

/// Receives decoded entries, in index order, from the pollers of one executor.
pub trait EntrySink {
    /// `entries` are consecutive and start at the log's previous cursor.
    fn emit(&self, log: &LogCtx, entries: Vec<LogEntry>);
}

/// One followed log: its list entry, its counters and where its polls fall in the interval.
pub struct LogCtx {
    pub info: LogInfo,
    pub stats: Rc<LogStats>,
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
                crate::ct::static_ct::data_tile_url(&self.info.url, index / 256, 256)
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
/// without one the backfill setting picks the start.
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
    let env = &client.env;
    let phase = log.slot.phase(env.poll_interval);
    let tick_after =
        |not_before: Instant| next_tick(env.clock_epoch, phase, env.poll_interval, not_before);
    let mut tick = tick_after(Instant::now() + env.timing.start_delay_min);
    client.sleep_until_unless_stopped(tick).await;
    let mut cursor = start_at;
    while !client.stop.is_stopped() {
        let Some(size) = poll_head().await else {
            break;
        };
        let next = *cursor.get_or_insert_with(|| client.env.backfill.start_index(size));
        log.stats.cursor.set(next);
        if next < size {
            match catch_up(next, size).await {
                Ok(c) => cursor = Some(c),
                Err(pipeline::Aborted {
                    error: fetch::FetchError::Stopped,
                    ..
                }) => break,
                Err(pipeline::Aborted {
                    cursor: reached,
                    error,
                }) => {
                    cursor = Some(reached);
                    tracing::error!(log = %log.info.description, "catch-up aborted at {reached}: {error}");
                }
            }
        }
        if final_size_reached(log, cursor.unwrap_or(0)) {
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
