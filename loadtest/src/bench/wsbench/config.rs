//! What a wsbench run is asked to do: the client count and shape ([`WsBenchConfig`]), the
//! optional gap check ([`GapCheckConfig`]), and the checks that keep a run bounded.

use std::time::Duration;

use anyhow::bail;

use crate::bench::limits::{DRAIN_TIMEOUT_DEFAULT, READ_BUF_BYTES, RUN_DURATION_MAX};

/// What to run.
#[derive(Debug, Clone)]
pub struct WsBenchConfig {
    /// `ws://host:port/path`; the path selects the stream.
    pub url: String,
    /// Clients in all, slow ones included.
    pub clients: usize,
    /// Clients that connect and never read.
    pub slow: usize,
    /// Time after all clients connected before measuring.
    pub warmup: Duration,
    /// Measured window.
    pub duration: Duration,
    /// Connects (TCP + handshake) in flight at once.
    pub connect_concurrency: usize,
    /// Worker threads.
    pub threads: usize,
    /// Bytes per read.
    pub read_buf_bytes: usize,
    /// Gap check against the simulator after the window.
    pub gap: Option<GapCheckConfig>,
    /// PEM file of the CA that signed the server's certificate, for `wss://` URLs (the only
    /// root trusted: a benchmark never talks to the public PKI).
    pub ca_file: Option<std::path::PathBuf>,
}

impl WsBenchConfig {
    /// Defaults for `clients` clients on `url`.
    pub fn new(url: &str, clients: usize) -> Self {
        WsBenchConfig {
            url: url.to_string(),
            clients,
            slow: 0,
            warmup: Duration::from_secs(10),
            duration: Duration::from_secs(60),
            connect_concurrency: 64,
            threads: 2,
            read_buf_bytes: READ_BUF_BYTES,
            gap: None,
            ca_file: None,
        }
    }
}

/// Verify, after the window, that each reading client got every index of every log from its
/// start to the simulator's tree size exactly once and in order, except the entries that must
/// be skipped (the simulator's corrupted ones, plus `expected_skips`), which must not arrive.
#[derive(Debug, Clone)]
pub struct GapCheckConfig {
    /// The simulator's `/sim/state` URL.
    pub state_url: String,
    /// Start index per log URL; a log not listed starts at the client's first message.
    pub starts: Vec<(String, u64)>,
    /// Longest wait for clients to reach the final tree sizes.
    pub drain_timeout: Duration,
    /// `(log URL, index)` pairs that must not arrive, besides those `/sim/state` lists as
    /// corrupted.
    pub expected_skips: Vec<(String, u64)>,
    /// The server's report of skipped entries (certstream: `/health/deep`); when given, every
    /// expected skip in the checked range must be in it. A report that cannot be read is noted
    /// as unavailable, not as a failure (other servers have none).
    pub server_report_url: Option<String>,
}

impl GapCheckConfig {
    /// Gap check with per-client starts and the default drain timeout.
    pub fn new(state_url: &str) -> Self {
        GapCheckConfig {
            state_url: state_url.to_string(),
            starts: Vec::new(),
            drain_timeout: DRAIN_TIMEOUT_DEFAULT,
            expected_skips: Vec::new(),
            server_report_url: None,
        }
    }
}

pub(super) fn validate(cfg: &WsBenchConfig) -> anyhow::Result<()> {
    if cfg.clients == 0 {
        bail!("--clients must be at least 1");
    }
    if cfg.slow > cfg.clients {
        bail!(
            "--slow ({}) is more than --clients ({})",
            cfg.slow,
            cfg.clients
        );
    }
    if cfg.threads == 0 || cfg.threads > 64 {
        bail!("threads must be 1..=64");
    }
    if cfg.warmup + cfg.duration > RUN_DURATION_MAX {
        bail!("warm-up + duration is over {RUN_DURATION_MAX:?}");
    }
    if cfg.read_buf_bytes < 4096 {
        bail!("read buffer must be at least 4096 bytes");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_validated() {
        let mut c = WsBenchConfig::new("ws://127.0.0.1:1/", 2);
        c.slow = 3;
        assert!(validate(&c).is_err());
        c.slow = 0;
        c.threads = 0;
        assert!(validate(&c).is_err());
        c.threads = 2;
        assert!(validate(&c).is_ok());
        c.clients = 0;
        assert!(validate(&c).is_err());
        c.clients = 2;
        c.read_buf_bytes = 4095;
        assert!(validate(&c).is_err());
        c.read_buf_bytes = 4096;
        c.duration = RUN_DURATION_MAX;
        assert!(validate(&c).is_err(), "warm-up + duration over the bound");
    }
}
