//! One HTTP GET on behalf of a log: paced, classified and counted, and retried with backoff
//! until it succeeds or the poller is stopped.
//!
//! [`FetchError`] is why one attempt failed: the HTTP error, the status, or the
//! [`DecodeError`] of a body that could not be used, each classified by side and retry class
//! ([`crate::ct::error`]) and counted under one fetch-error metric ([`FetchError::metric_kind`]).

use std::{cell::RefCell, fmt, rc::Rc, time::Duration};

use bytes::Bytes;
use glommio::timer::sleep;

use super::{LogCtx, PollerEnv, StopFlag};
use crate::{
    ct::{
        error::{CtError, DecodeFailure, DecodeKind, ErrorSide, Retry},
        http::HttpError,
        pacing::{Backoff, Pacer},
        rfc6962::ResponseError,
        static_ct::TileError,
    },
    metrics::{bump, FetchErrorKind},
};

/// Why one fetch attempt failed.
#[derive(Debug)]
pub enum FetchError {
    /// Transport failure (DNS, connect, TLS, timeout, truncated or oversized body).
    Network(HttpError),
    /// 429, or 503 with Retry-After: the log asks us to slow down.
    RateLimited(Option<Duration>),
    /// 404: the resource does not exist (yet, or any more).
    NotFound,
    /// Any other non-200 status.
    Status(u16),
    /// The body was received but could not be used.
    BadResponse(DecodeError),
    /// A pipeline consumer used entries past the window it was given: our bug.
    WindowOverrun { start: u64, end: u64, next: u64 },
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
            FetchError::WindowOverrun { start, end, next } => {
                write!(
                    f,
                    "internal error: window {start}..={end} consumed up to {next}"
                )
            }
            FetchError::Stopped => write!(f, "stopped"),
        }
    }
}

impl std::error::Error for FetchError {}

impl CtError for FetchError {
    /// A stop is our own doing (the log left the list, or shutdown), like an overrun window.
    fn side(&self) -> ErrorSide {
        match self {
            FetchError::Network(e) => e.side(),
            FetchError::BadResponse(e) => e.side(),
            FetchError::RateLimited(_) | FetchError::NotFound | FetchError::Status(_) => {
                ErrorSide::Upstream
            }
            FetchError::WindowOverrun { .. } | FetchError::Stopped => ErrorSide::Internal,
        }
    }

    /// A 404 is transient: CT resources appear (a tile not yet on the CDN) rather than vanish.
    /// Other statuses are transient when they are server errors.
    fn retry(&self) -> Retry {
        match self {
            FetchError::Network(e) => e.retry(),
            FetchError::BadResponse(e) => e.retry(),
            FetchError::RateLimited(_) | FetchError::NotFound => Retry::Transient,
            FetchError::Status(s) if *s >= 500 => Retry::Transient,
            FetchError::Status(_) | FetchError::WindowOverrun { .. } => Retry::Persistent,
            FetchError::Stopped => Retry::Never,
        }
    }
}

impl FetchError {
    /// The fetch-error metric this failure counts under; none for a stop or our own bug.
    pub fn metric_kind(&self) -> Option<FetchErrorKind> {
        match self {
            FetchError::Network(_) => Some(FetchErrorKind::Network),
            FetchError::RateLimited(_) => Some(FetchErrorKind::RateLimited),
            FetchError::NotFound | FetchError::Status(_) => Some(FetchErrorKind::Status),
            FetchError::BadResponse(e) => Some(metric_kind(e.kind())),
            FetchError::WindowOverrun { .. } | FetchError::Stopped => None,
        }
    }
}

/// The fetch-error metric of a body that could not be used: a signature that does not verify
/// is `bad_signature`, anything else about the body `bad_response`.
pub fn metric_kind(kind: DecodeKind) -> FetchErrorKind {
    match kind {
        DecodeKind::BadSignature => FetchErrorKind::BadSignature,
        _ => FetchErrorKind::BadResponse,
    }
}

/// Why a body a log answered with could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// A get-sth or get-entries body.
    Rfc6962(ResponseError),
    /// A data tile.
    Tile(TileError),
    /// An issuer certificate whose SHA-256 is not the fingerprint it was fetched by.
    IssuerFingerprint,
    /// A data tile that holds no leaf of the window it was fetched for.
    NoLeafInWindow { start: u64, end: u64 },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Rfc6962(e) => write!(f, "{e}"),
            DecodeError::Tile(e) => write!(f, "{e}"),
            DecodeError::IssuerFingerprint => {
                write!(f, "issuer certificate does not match its fingerprint")
            }
            DecodeError::NoLeafInWindow { start, end } => {
                write!(f, "tile holds no leaf of {start}..={end}")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

impl DecodeFailure for DecodeError {
    fn kind(&self) -> DecodeKind {
        match self {
            DecodeError::Rfc6962(e) => e.kind(),
            DecodeError::Tile(e) => e.kind(),
            DecodeError::IssuerFingerprint | DecodeError::NoLeafInWindow { .. } => {
                DecodeKind::Mismatch
            }
        }
    }
}

impl From<ResponseError> for DecodeError {
    fn from(e: ResponseError) -> Self {
        DecodeError::Rfc6962(e)
    }
}

impl From<TileError> for DecodeError {
    fn from(e: TileError) -> Self {
        DecodeError::Tile(e)
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
            Err(e) => return Err(FetchError::Network(e)),
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
        if let Some(kind) = err.metric_kind() {
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
    /// those `give_up` accepts and those never to be retried ([`Retry::Never`]: the poller was
    /// stopped), until it succeeds or the poller is stopped.
    pub async fn get_with_retry<T>(
        &self,
        what: &str,
        url: &str,
        decode: impl Fn(Bytes) -> Result<T, DecodeError>,
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
                Err(e) if e.retry() == Retry::Never || give_up(&e) => return Err(e),
                Err(e) => self.after_failure(what, &e).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ct::{sig::SigError, static_ct::CheckpointError};

    #[test]
    fn a_signature_failure_counts_apart_from_a_bad_body() {
        let unverified = CheckpointError::BadLogSignature(SigError::BadSignature);
        assert_eq!(metric_kind(unverified.kind()), FetchErrorKind::BadSignature);
        assert_eq!(
            metric_kind(CheckpointError::NoSignatures.kind()),
            FetchErrorKind::BadResponse,
            "a note without signature lines is not a checkpoint at all"
        );
        let empty = FetchError::BadResponse(ResponseError::EmptyPage.into());
        assert_eq!(empty.metric_kind(), Some(FetchErrorKind::BadResponse));
        assert_eq!(empty.side(), ErrorSide::Upstream);
        assert_eq!(
            empty.to_string(),
            "bad response: get-entries returned no entries"
        );
    }

    #[test]
    fn only_a_stop_is_never_retried() {
        assert_eq!(FetchError::Stopped.retry(), Retry::Never);
        assert_eq!(FetchError::Stopped.metric_kind(), None);
        assert_eq!(FetchError::NotFound.retry(), Retry::Transient);
        assert_eq!(FetchError::Status(502).retry(), Retry::Transient);
        assert_eq!(FetchError::Status(403).retry(), Retry::Persistent);
        let overrun = FetchError::WindowOverrun {
            start: 0,
            end: 9,
            next: 12,
        };
        assert_eq!(overrun.side(), ErrorSide::Internal);
        assert_eq!(overrun.metric_kind(), None);
        let tile = FetchError::BadResponse(TileError::BadWidth { width: 0 }.into());
        assert_eq!(tile.side(), ErrorSide::Internal, "we asked for that width");
        assert_ne!(tile.retry(), Retry::Never);
    }
}
