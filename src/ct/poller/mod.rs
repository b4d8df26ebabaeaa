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

use std::{cell::Cell, rc::Rc, time::Duration};

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

/// One followed log: its list entry and its counters.
pub struct LogCtx {
    pub info: LogInfo,
    pub stats: Rc<LogStats>,
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
    pub timing: PollerTiming,
}

/// The pollers' fixed delays; [`Default`] takes them from [`crate::limits`]. Only tests pick
/// others, so that a scenario with a dozen failures runs in milliseconds instead of minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollerTiming {
    /// Bounds of the error backoff ([`crate::ct::pacing::Backoff`]).
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Delay before a poller's first request, plus a per-log offset below `start_stagger`.
    pub start_delay_min: Duration,
    pub start_stagger: Duration,
}

impl Default for PollerTiming {
    fn default() -> Self {
        PollerTiming {
            backoff_min: crate::limits::BACKOFF_MIN,
            backoff_max: crate::limits::BACKOFF_MAX,
            start_delay_min: crate::limits::FETCHER_START_DELAY_MIN,
            start_stagger: crate::limits::FETCHER_START_STAGGER,
        }
    }
}

/// Cancels a poller: set by the executor when the log leaves the list or at shutdown.
#[derive(Default)]
pub struct StopFlag(Cell<bool>);

impl StopFlag {
    pub fn stop(&self) {
        self.0.set(true);
    }
    pub fn is_stopped(&self) -> bool {
        self.0.get()
    }
}

/// Runs the poller of `log` until `stop` is set. Pollers start staggered (by log id) so that a
/// restart does not hit every log in the same instant.
pub async fn run(env: Rc<PollerEnv>, log: Rc<LogCtx>, start_at: Option<u64>, stop: Rc<StopFlag>) {
    let spread = env.timing.start_stagger.as_millis() as u64;
    let offset =
        u64::from(u16::from_le_bytes([log.info.log_id[0], log.info.log_id[1]])) % spread.max(1);
    glommio::timer::sleep(env.timing.start_delay_min + Duration::from_millis(offset)).await;
    match log.info.kind {
        crate::ct::log_list::LogKind::Rfc6962 => rfc6962::run(env, log, start_at, stop).await,
        crate::ct::log_list::LogKind::StaticCt => tiled::run(env, log, start_at, stop).await,
    }
}

/// The loop every poller runs: read the verified tree size, stream from the cursor up to it,
/// sleep; until stopped, or until a read-only log has been streamed to its final tree head.
/// `start_at` is a saved cursor; without one the backfill setting picks the start.
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
        client.sleep_unless_stopped(client.env.poll_interval).await;
    }
}

/// A read-only log never grows past its final tree head.
fn final_size_reached(log: &LogCtx, cursor: u64) -> bool {
    matches!(log.info.state, crate::ct::log_list::LogState::Readonly { final_tree_size } if cursor >= final_tree_size)
}
