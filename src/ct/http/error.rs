//! [`HttpError`]: everything that can go wrong fetching one URL, with the host it happened
//! with, whose fault it is and whether retrying can help ([`CtError`]).

use std::fmt;

use crate::ct::error::{CtError, ErrorSide, Retry};

/// Everything that can go wrong fetching one URL. Each variant names the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    InvalidUrl {
        url: String,
        reason: &'static str,
    },
    /// An extra request header the caller passed is unusable.
    InvalidHeader {
        name: String,
        reason: &'static str,
    },
    /// TLS configuration could not be built (bad CA file); a boot error.
    Config(String),
    Dns {
        host: String,
        detail: String,
    },
    Connect {
        host: String,
        detail: String,
    },
    Tls {
        host: String,
        detail: String,
    },
    /// `phase` is "connect", "TLS handshake", "read" or "request" (the overall deadline).
    Timeout {
        host: String,
        phase: &'static str,
    },
    Io {
        host: String,
        detail: String,
    },
    /// The connection closed before the response was complete (truncated body).
    Closed {
        host: String,
        detail: String,
    },
    MalformedResponse {
        host: String,
        detail: String,
    },
    /// The response head or (decoded) body passes its limit (`limit` is in bytes, or in
    /// header fields for "response header count").
    TooLarge {
        host: String,
        what: &'static str,
        limit: usize,
    },
    /// The body's content coding (gzip) could not be decoded.
    Decode {
        host: String,
        detail: String,
    },
}

impl HttpError {
    /// Whether trying the same request again later can help: network trouble yes; a bad URL,
    /// a bad certificate, an oversized or undecodable response no (the fetcher still retries
    /// those, but on its slow error path, and should surface them). See [`CtError::retry`].
    pub fn is_retryable(&self) -> bool {
        self.retry() == Retry::Transient
    }
}

impl CtError for HttpError {
    /// A request we could not even form is ours (the list's URLs are checked when it is
    /// loaded, so one that does not parse here was built or configured by us); everything
    /// after it is the log's, or the network's on the way to it.
    fn side(&self) -> ErrorSide {
        match self {
            HttpError::InvalidUrl { .. }
            | HttpError::InvalidHeader { .. }
            | HttpError::Config(_) => ErrorSide::Internal,
            HttpError::Dns { .. }
            | HttpError::Connect { .. }
            | HttpError::Tls { .. }
            | HttpError::Timeout { .. }
            | HttpError::Io { .. }
            | HttpError::Closed { .. }
            | HttpError::MalformedResponse { .. }
            | HttpError::TooLarge { .. }
            | HttpError::Decode { .. } => ErrorSide::Upstream,
        }
    }

    fn retry(&self) -> Retry {
        match self {
            HttpError::Dns { .. }
            | HttpError::Connect { .. }
            | HttpError::Timeout { .. }
            | HttpError::Io { .. }
            | HttpError::Closed { .. } => Retry::Transient,
            HttpError::InvalidUrl { .. }
            | HttpError::InvalidHeader { .. }
            | HttpError::Config(_)
            | HttpError::Tls { .. }
            | HttpError::MalformedResponse { .. }
            | HttpError::TooLarge { .. }
            | HttpError::Decode { .. } => Retry::Persistent,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::InvalidUrl { url, reason } => write!(f, "invalid URL {url:?}: {reason}"),
            HttpError::InvalidHeader { name, reason } => {
                write!(f, "invalid request header {name:?}: {reason}")
            }
            HttpError::Config(detail) => write!(f, "TLS configuration: {detail}"),
            HttpError::Dns { host, detail } => write!(f, "{host}: DNS lookup failed: {detail}"),
            HttpError::Connect { host, detail } => write!(f, "{host}: connect failed: {detail}"),
            HttpError::Tls { host, detail } => write!(f, "{host}: TLS failed: {detail}"),
            HttpError::Timeout { host, phase } => write!(f, "{host}: {phase} timed out"),
            HttpError::Io { host, detail } => write!(f, "{host}: I/O error: {detail}"),
            HttpError::Closed { host, detail } => write!(f, "{host}: {detail}"),
            HttpError::MalformedResponse { host, detail } => {
                write!(f, "{host}: malformed response: {detail}")
            }
            HttpError::TooLarge { host, what, limit } => {
                write!(f, "{host}: {what} larger than {limit} bytes")
            }
            HttpError::Decode { host, detail } => {
                write!(f, "{host}: cannot decode response body: {detail}")
            }
        }
    }
}

impl std::error::Error for HttpError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_we_could_not_form_is_ours_the_rest_the_logs() {
        let bad_url = HttpError::InvalidUrl {
            url: "ftp://x".into(),
            reason: "scheme",
        };
        assert_eq!(bad_url.side(), ErrorSide::Internal);
        assert_eq!(bad_url.retry(), Retry::Persistent);
        let timeout = HttpError::Timeout {
            host: "log.example".into(),
            phase: "read",
        };
        assert_eq!(timeout.side(), ErrorSide::Upstream);
        assert_eq!(timeout.retry(), Retry::Transient);
        assert!(timeout.is_retryable());
        let huge = HttpError::TooLarge {
            host: "log.example".into(),
            what: "response body",
            limit: 1,
        };
        assert_eq!(huge.side(), ErrorSide::Upstream);
        assert!(!huge.is_retryable());
    }
}
