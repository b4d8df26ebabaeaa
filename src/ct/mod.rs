//! The Certificate Transparency side: which logs exist, how to talk to them, how to decode
//! what they return, and the per-log pollers that tie it together.
//!
//! Decoders ([`leaf`], [`rfc6962`], [`static_ct`], [`log_list`], [`sig`]) are pure functions of
//! bytes, built on three small modules that import no decoder: [`tls_codec`] (the TLS
//! presentation-language reader), [`hash`] (SHA-256 over parts) and [`error`] (how every
//! CT-side error says whose fault it is and whether retrying helps). [`http`] is the only I/O;
//! [`poller`] runs one task per followed log. [`log_lists`] merges several parsed lists (Google's
//! and Apple's) into the logs to follow.

pub mod entry;
pub mod error;
pub mod hash;
pub mod http;
pub mod leaf;
pub mod log_list;
pub mod log_lists;
pub mod pacing;
pub mod poller;
pub mod rfc6962;
pub mod sig;
pub mod static_ct;
pub mod tls_codec;

/// Reads a file of the real CT test data (`loadtest/fixtures/ctdata/<rel>`), for unit tests.
#[cfg(test)]
pub(crate) fn ctdata(rel: &str) -> Vec<u8> {
    let path = format!(
        "{}/loadtest/fixtures/ctdata/{rel}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}
