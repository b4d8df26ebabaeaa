//! How the CT side classifies its errors: one place for what every error type there can say
//! about itself besides its message.
//!
//! Every CT-side error type implements [`CtError`]:
//!
//! - [`CtError::side`]: whose fault it is. [`ErrorSide::Upstream`] is a CT log (or the log list's
//!   publisher) that sent something unusable or could not be reached; [`ErrorSide::Downstream`]
//!   a client of ours; [`ErrorSide::Internal`] our own code or configuration.
//! - [`CtError::retry`]: whether asking again can help. [`Retry::Transient`] failures (network
//!   trouble, a busy or lagging log) may pass by themselves; [`Retry::Persistent`] ones repeat
//!   until someone changes something (the log's data, our configuration, our code), so they are
//!   the ones to surface; [`Retry::Never`] is work that was cancelled and must not be retried.
//!
//! Decoders of outside bytes say *what* is wrong with them through [`DecodeFailure::kind`]
//! ([`DecodeKind`]: truncated, malformed, too large, a bad signature, ...); their side and retry
//! class follow from the kind ([`DecodeKind::side`], [`DecodeKind::retry`]), so a decoder only
//! states the kind.
//!
//! # The CT-side error types
//!
//! | type | side | retry |
//! |---|---|---|
//! | decoders: `TlsError`, `LeafError`, `SigError`, `KeyError`, `ResponseError`, `EntryError`, `CheckpointError`, `TileError`, `TileEntryError`, `LogListError`, `LogSkip` | by [`DecodeKind`]: upstream; a bad request internal | persistent |
//! | [`HttpError`](crate::ct::http::HttpError) | a URL, header or TLS setup we could not form internal; the rest upstream | network trouble transient; a refused certificate, a malformed, oversized or undecodable response persistent |
//! | [`FetchError`](crate::ct::poller::fetch::FetchError) (with [`DecodeError`](crate::ct::poller::fetch::DecodeError)) | that of the HTTP or decode error; statuses upstream; a stop or an overrun window internal | 429, 404 and 5xx transient; other statuses persistent; a stop never |
//! | [`ListLoadError`](crate::ct::log_list::ListLoadError) | a list file (configuration) internal; a list URL upstream | that of the fetch; 5xx transient; the rest persistent |
//!
//! # Who uses the classes
//!
//! - The pollers retry every failed fetch on their backoff except those of class
//!   [`Retry::Never`] ([`get_with_retry`]): a log that serves garbage today may be fixed
//!   tomorrow, so even [`Retry::Persistent`] failures are asked again.
//! - The `bad_signature` / `bad_response` split of the fetch-error metric is by
//!   [`DecodeKind::BadSignature`] ([`metric_kind`]).
//! - [`HttpError::is_retryable`] is its [`Retry::Transient`] class.
//!
//! [`get_with_retry`]: crate::ct::poller::fetch::LogClient::get_with_retry
//! [`metric_kind`]: crate::ct::poller::fetch::metric_kind
//! [`HttpError::is_retryable`]: crate::ct::http::HttpError::is_retryable
//!
//! This module imports nothing from the rest of `ct`, so every CT module can use it.

use std::fmt;

/// Whose fault an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorSide {
    /// A CT log or the log list's publisher: it sent something unusable, or could not be
    /// reached.
    Upstream,
    /// A client of ours (the WebSocket side).
    Downstream,
    /// Our own code or configuration.
    Internal,
}

/// Whether asking again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Retry {
    /// Asking again later can succeed: network trouble, a busy or lagging log.
    Transient,
    /// Asking again gets the same failure until someone changes something: the log's data,
    /// our configuration or our code. Pollers still retry these on their backoff (logs do get
    /// fixed), but these are the failures to surface.
    Persistent,
    /// Must not be retried: the work was cancelled.
    Never,
}

/// What every CT-side error can say about itself besides its message.
pub trait CtError: std::error::Error {
    /// Whose fault it is.
    fn side(&self) -> ErrorSide;
    /// Whether asking again can help.
    fn retry(&self) -> Retry;
}

/// What is wrong with bytes from outside (a log's response, the log list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeKind {
    /// A field needs more bytes than are left.
    Truncated,
    /// Not what the format allows: bad JSON, base64, length prefix, leftover bytes.
    Malformed,
    /// Larger than we accept (a bound in [`crate::limits`]).
    TooLarge,
    /// The log's signature is missing, broken or does not verify.
    BadSignature,
    /// Well-formed, but not what was asked for or promised: another origin, an empty page, a
    /// leaf index that disagrees with its position, an issuer that does not match its hash.
    Mismatch,
    /// A version, type or key algorithm this decoder does not know. RFC 6962 §4.6: such
    /// entries are skipped, not held against the log.
    Unsupported,
    /// No answer could satisfy the request (a tile width outside 1..=256): the caller's bug.
    BadRequest,
}

impl DecodeKind {
    /// The sender's fault, except a request no answer could satisfy, which is ours.
    pub fn side(self) -> ErrorSide {
        match self {
            DecodeKind::BadRequest => ErrorSide::Internal,
            _ => ErrorSide::Upstream,
        }
    }

    /// The same bytes decode the same way every time.
    pub fn retry(self) -> Retry {
        Retry::Persistent
    }
}

impl fmt::Display for DecodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecodeKind::Truncated => "truncated",
            DecodeKind::Malformed => "malformed",
            DecodeKind::TooLarge => "too large",
            DecodeKind::BadSignature => "bad signature",
            DecodeKind::Mismatch => "mismatch",
            DecodeKind::Unsupported => "unsupported",
            DecodeKind::BadRequest => "bad request",
        })
    }
}

/// An error of a decoder of outside bytes: it states the [`DecodeKind`], and its side and retry
/// class follow from it (a decoder's error implements this, and gets [`CtError`] with it).
pub trait DecodeFailure: std::error::Error {
    /// What is wrong with the bytes.
    fn kind(&self) -> DecodeKind;
}

impl<T: DecodeFailure> CtError for T {
    fn side(&self) -> ErrorSide {
        self.kind().side()
    }

    fn retry(&self) -> Retry {
        self.kind().retry()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Fails(DecodeKind);

    impl fmt::Display for Fails {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{}", self.0)
        }
    }

    impl std::error::Error for Fails {}

    impl DecodeFailure for Fails {
        fn kind(&self) -> DecodeKind {
            self.0
        }
    }

    #[test]
    fn a_decode_failure_is_the_senders_unless_the_request_was_ours() {
        assert_eq!(Fails(DecodeKind::Truncated).side(), ErrorSide::Upstream);
        assert_eq!(Fails(DecodeKind::BadSignature).side(), ErrorSide::Upstream);
        assert_eq!(Fails(DecodeKind::BadRequest).side(), ErrorSide::Internal);
        assert_eq!(Fails(DecodeKind::Malformed).retry(), Retry::Persistent);
    }
}
