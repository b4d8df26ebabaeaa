//! Configuration: command-line flags, each with a `CERTSTREAM_*` environment variable, with
//! defaults from [`crate::limits`]. Validated once at boot; a bad value is rejected with a
//! message naming the setting and what is allowed.

use std::{fmt, net::SocketAddr, path::PathBuf, str::FromStr};

use clap::Parser;

/// Google's live v3 log list: the default `--log-list`.
pub const DEFAULT_LOG_LIST_URL: &str = "https://www.gstatic.com/ct/log_list/v3/log_list.json";

/// Where each newly seen log starts streaming when there is no saved state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backfill {
    /// Start this many entries before the head (0 = at the head).
    Entries(u64),
    /// Start at index 0.
    All,
}

impl Backfill {
    /// The first index to stream for a log whose tree currently holds `tree_size` entries.
    pub fn start_index(self, tree_size: u64) -> u64 {
        match self {
            Backfill::All => 0,
            Backfill::Entries(n) => tree_size.saturating_sub(n),
        }
    }
}

impl FromStr for Backfill {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("all") {
            return Ok(Backfill::All);
        }
        s.parse::<u64>()
            .map(Backfill::Entries)
            .map_err(|_| format!("backfill must be a number of entries or `all`, got `{s}`"))
    }
}

impl fmt::Display for Backfill {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backfill::All => f.write_str("all"),
            Backfill::Entries(n) => write!(f, "{n}"),
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Which kinds of CT logs to follow (useful for tests and benchmarks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogKinds {
    Both,
    Rfc6962,
    Static,
}

/// The server's command line. Every flag also reads `CERTSTREAM_<NAME>` from the environment;
/// the flag wins.
#[derive(Debug, Clone, Parser)]
#[command(name = "certstream", version, about)]
pub struct Config {
    /// Address the WebSocket/HTTP listener binds on every executor (SO_REUSEPORT).
    #[arg(long, env = "CERTSTREAM_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,

    /// Executors (one pinned thread per core). 0 = one per available CPU.
    #[arg(long, env = "CERTSTREAM_WORKERS", default_value_t = 0)]
    pub workers: usize,

    /// CT log list v3: an http(s):// URL or a file path. When a URL cannot be fetched the copy
    /// compiled into the binary is used instead (and the log says so).
    #[arg(long, env = "CERTSTREAM_LOG_LIST", default_value = DEFAULT_LOG_LIST_URL)]
    pub log_list: String,

    /// Extra PEM CA certificates trusted for https CT logs (besides webpki-roots).
    #[arg(long, env = "CERTSTREAM_CA_FILE")]
    pub ca_file: Option<PathBuf>,

    /// Where a log without saved state starts: N entries before the head (0 = at the head), or
    /// `all` for index 0.
    #[arg(long, env = "CERTSTREAM_BACKFILL", default_value = "0")]
    pub backfill: Backfill,

    /// Which log kinds to follow.
    #[arg(long, env = "CERTSTREAM_LOG_KINDS", value_enum, default_value_t = LogKinds::Both)]
    pub log_kinds: LogKinds,

    /// Log line format on stderr.
    #[arg(long, env = "CERTSTREAM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Seconds between refreshes of the log list (logs are added and retired without a restart).
    #[arg(long, env = "CERTSTREAM_LOG_LIST_REFRESH_SECS", default_value_t = crate::limits::LOG_LIST_REFRESH.as_secs())]
    pub log_list_refresh_secs: u64,

    /// Milliseconds between polls of each log's tree head (get-sth / checkpoint).
    #[arg(long, env = "CERTSTREAM_POLL_INTERVAL_MS", default_value_t = crate::limits::HEAD_POLL_INTERVAL.as_millis() as u64)]
    pub poll_interval_ms: u64,
}

impl Config {
    /// Cross-field checks clap cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if self.poll_interval_ms == 0 || self.poll_interval_ms > 3_600_000 {
            return Err(format!(
                "poll-interval-ms must be between 1 and 3600000, got {}",
                self.poll_interval_ms
            ));
        }
        if self.log_list_refresh_secs == 0 || self.log_list_refresh_secs > 7 * 86_400 {
            return Err(format!(
                "log-list-refresh-secs must be between 1 and 604800, got {}",
                self.log_list_refresh_secs
            ));
        }
        if self.workers > 1024 {
            return Err(format!(
                "workers must be at most 1024, got {}",
                self.workers
            ));
        }
        if self.log_list.trim().is_empty() {
            return Err("log-list must be a URL or a path, got an empty string".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backfill_parses_numbers_and_all() {
        assert_eq!("0".parse::<Backfill>(), Ok(Backfill::Entries(0)));
        assert_eq!("ALL".parse::<Backfill>(), Ok(Backfill::All));
        assert!("-3".parse::<Backfill>().is_err());
        assert!("lots".parse::<Backfill>().is_err());
        assert_eq!(Backfill::Entries(10).start_index(4), 0);
        assert_eq!(Backfill::Entries(10).start_index(40), 30);
        assert_eq!(Backfill::All.start_index(40), 0);
    }

    #[test]
    fn flags_override_defaults_and_bad_values_are_rejected() {
        let c =
            Config::try_parse_from(["certstream", "--workers", "2", "--backfill", "all"]).unwrap();
        assert_eq!(c.workers, 2);
        assert_eq!(c.backfill, Backfill::All);
        assert!(Config::try_parse_from(["certstream", "--listen", "nonsense"]).is_err());
        let c = Config::try_parse_from(["certstream", "--poll-interval-ms", "0"]).unwrap();
        assert!(c.validate().unwrap_err().contains("poll-interval-ms"));
    }
}
