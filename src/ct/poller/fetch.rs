//! One HTTP GET on behalf of a log: paced, classified and counted, and retried with backoff
//! until it succeeds or the poller is stopped.

use std::{cell::RefCell, fmt, rc::Rc, time::Duration};

use bytes::Bytes;
use glommio::timer::sleep;

use super::{LogCtx, PollerEnv, StopFlag};
use crate::{
    ct::pacing::{Backoff, Pacer},
    metrics::{bump, FetchErrorKind},
};

/// Why one fetch attempt failed.
#[derive(Debug)]
pub enum FetchError {
    /// Transport failure (DNS, connect, TLS, timeout, truncated or oversized body).
    Network(String),
    /// 429, or 503 with Retry-After: the log asks us to slow down.
    RateLimited(Option<Duration>),
    /// 404: the resource does not exist (yet, or any more).
    NotFound,
    /// Any other non-200 status.
    Status(u16),
    /// The body was received but could not be used.
    BadResponse(String),
    /// The poller was stopped while waiting.
    Stopped,
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Network(e) => write!(f, "network error: {e}"),
            FetchError::RateLimited(Some(d)) => write!(f, "rate limited, retry after {d:?}"),
            FetchError::RateLimited(None) => write!(f, "rate limited"),
            FetchError::NotFound => write!(f, "404 not found"),
            FetchError::Status(s) => write!(f, "HTTP status {s}"),
            FetchError::BadResponse(e) => write!(f, "bad response: {e}"),
            FetchError::Stopped => write!(f, "stopped"),
        }
    }
}

impl FetchError {
    fn kind(&self) -> Option<FetchErrorKind> {
        match self {
            FetchError::Network(_) => Some(FetchErrorKind::Network),
            FetchError::RateLimited(_) => Some(FetchErrorKind::RateLimited),
            FetchError::NotFound | FetchError::Status(_) => Some(FetchErrorKind::Status),
            FetchError::BadResponse(_) => Some(FetchErrorKind::BadResponse),
            FetchError::Stopped => None,
        }
    }
}

/// Pacing and backoff state of one log, shared by all of its in-flight requests.
pub struct LogClient {
    pub env: Rc<PollerEnv>,
    pub log: Rc<LogCtx>,
    pub stop: Rc<StopFlag>,
    pacer: RefCell<Pacer>,
    backoff: RefCell<Backoff>,
}

impl LogClient {
    pub fn new(env: Rc<PollerEnv>, log: Rc<LogCtx>, stop: Rc<StopFlag>) -> Rc<LogClient> {
        let seed = u64::from_le_bytes(log.info.log_id[..8].try_into().unwrap_or([7; 8]));
        let backoff = Backoff::with_bounds(env.timing.backoff_min, env.timing.backoff_max, seed);
        Rc::new(LogClient {
            env,
            log,
            stop,
            pacer: RefCell::new(Pacer::new()),
            backoff: RefCell::new(backoff),
        })
    }

    /// One paced GET; a non-200 answer is an error.
    pub async fn get_once(&self, url: &str) -> Result<Bytes, FetchError> {
        self.wait_for_pacer().await?;
        let result = self.env.http.get(url).await;
        let resp = match result {
            Err(e) => return Err(FetchError::Network(e.to_string())),
            Ok(resp) => resp,
        };
        let retry_after = resp.retry_after_delay(std::time::SystemTime::now());
        {
            let mut pacer = self.pacer.borrow_mut();
            pacer.on_response(resp.status, retry_after, std::time::Instant::now());
            self.log
                .stats
                .pacing_ms
                .set(pacer.current_interval().as_millis() as u64);
        }
        match resp.status {
            200 => {
                bump(&self.log.stats.fetches);
                Ok(resp.body)
            }
            429 => Err(FetchError::RateLimited(retry_after)),
            503 if retry_after.is_some() => Err(FetchError::RateLimited(retry_after)),
            404 => Err(FetchError::NotFound),
            s => Err(FetchError::Status(s)),
        }
    }

    /// Books this request's slot on the log's pacer and sleeps until it; concurrent requests of
    /// one log get consecutive slots.
    async fn wait_for_pacer(&self) -> Result<(), FetchError> {
        let delay = self.pacer.borrow_mut().reserve(std::time::Instant::now());
        self.sleep_unless_stopped(delay).await;
        if self.stop.is_stopped() {
            return Err(FetchError::Stopped);
        }
        Ok(())
    }

    /// Counts and logs a failed attempt, then sleeps for the backoff (or Retry-After).
    pub async fn after_failure(&self, what: &str, err: &FetchError) {
        if let Some(kind) = err.kind() {
            self.log.stats.count_error(kind);
        }
        let delay = match err {
            FetchError::RateLimited(Some(after)) => *after,
            _ => self.backoff.borrow_mut().next_delay(),
        };
        tracing::warn!(log = %self.log.info.description, url = %self.log.info.url, "{what}: {err}; retrying in {delay:?}");
        self.sleep_unless_stopped(delay).await;
    }

    /// A success ends the backoff sequence.
    pub fn after_success(&self) {
        self.backoff.borrow_mut().reset();
    }

    /// Sleeps for `total`, waking early when the poller is stopped (one timer, no polling).
    pub async fn sleep_unless_stopped(&self, total: Duration) {
        if total.is_zero() || self.stop.is_stopped() {
            return;
        }
        futures_lite::future::or(sleep(total), self.stop.wait()).await;
    }

    /// Sleeps until `deadline`, waking early when the poller is stopped.
    pub async fn sleep_until_unless_stopped(&self, deadline: std::time::Instant) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        self.sleep_unless_stopped(left).await;
    }

    /// GETs `url` and decodes it with `decode`, retrying (with backoff) every failure except
    /// those `give_up` accepts, until it succeeds or the poller is stopped.
    pub async fn get_with_retry<T>(
        &self,
        what: &str,
        url: &str,
        decode: impl Fn(Bytes) -> Result<T, String>,
        give_up: impl Fn(&FetchError) -> bool,
    ) -> Result<T, FetchError> {
        loop {
            let attempt = match self.get_once(url).await {
                Ok(body) => decode(body).map_err(FetchError::BadResponse),
                Err(e) => Err(e),
            };
            match attempt {
                Ok(v) => {
                    self.after_success();
                    return Ok(v);
                }
                Err(FetchError::Stopped) => return Err(FetchError::Stopped),
                Err(e) if give_up(&e) => return Err(e),
                Err(e) => self.after_failure(what, &e).await,
            }
        }
    }
}
