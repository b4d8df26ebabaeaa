//! Configuration: command-line flags, each with a `CERTSTREAM_*` environment variable, and an
//! optional TOML file (`--config`), with defaults from [`crate::limits`]. Precedence: flag, then
//! environment, then file, then default. Validated once at boot; an unknown key or a bad value
//! is rejected with a message naming the setting and what is allowed.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{parser::ValueSource, ArgMatches, CommandFactory, FromArgMatches, Parser};
use serde::Deserialize;

use crate::ct::poller::Backfill;

/// Google's live v3 log list: the default `--log-list`.
pub const DEFAULT_LOG_LIST_URL: &str = "https://www.gstatic.com/ct/log_list/v3/log_list.json";

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// What to do when the state file exists but cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnBadState {
    /// Refuse to start (the default: never a silent reset).
    Refuse,
    /// Log the error and start every log as if there were no state.
    StartFromHead,
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
    /// TOML file with any of the settings below (keys as the flags, with `_` for `-`).
    #[arg(long, env = "CERTSTREAM_CONFIG")]
    pub config: Option<PathBuf>,

    /// Validate the configuration (and the log list file, if one is given), print it, and exit.
    #[arg(long)]
    pub check_config: bool,

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

    /// File holding each log's cursor, saved every few seconds and at shutdown; the server
    /// resumes from it. Without it every start follows `--backfill`.
    #[arg(long, env = "CERTSTREAM_STATE_FILE")]
    pub state_file: Option<PathBuf>,

    /// What to do when the state file exists but is unreadable or corrupt.
    #[arg(long, env = "CERTSTREAM_ON_BAD_STATE", value_enum, default_value_t = OnBadState::Refuse)]
    pub on_bad_state: OnBadState,

    /// Most client connections the process holds (0 = no limit); past it new ones get 503.
    #[arg(long, env = "CERTSTREAM_MAX_CONNECTIONS", default_value_t = 0)]
    pub max_connections: usize,

    /// Most client connections from one IP address (0 = no limit); past it new ones get 429.
    #[arg(long, env = "CERTSTREAM_MAX_CONNECTIONS_PER_IP", default_value_t = 0)]
    pub max_connections_per_ip: usize,

    /// Bearer token clients must present (`Authorization: Bearer T` or `?token=T`); repeat the
    /// flag (or comma-separate in the environment) for several. Off when none is given;
    /// `/health` stays open.
    #[arg(
        long = "auth-token",
        env = "CERTSTREAM_AUTH_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub auth_tokens: Vec<String>,

    /// PEM certificate chain (leaf first) to serve TLS with (wss:// and https://, on the
    /// listen port); needs `--tls-key`. Reloaded on SIGHUP.
    #[arg(long, env = "CERTSTREAM_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `--tls-cert`. Reloaded on SIGHUP.
    #[arg(long, env = "CERTSTREAM_TLS_KEY")]
    pub tls_key: Option<PathBuf>,

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

    /// Milliseconds a TCP connect (and, separately, a TLS handshake) to a CT log may take.
    #[arg(long, env = "CERTSTREAM_HTTP_CONNECT_TIMEOUT_MS", default_value_t = crate::limits::CONNECT_TIMEOUT.as_millis() as u64)]
    pub http_connect_timeout_ms: u64,

    /// Milliseconds a CT log may leave a request without sending a byte before it is given up.
    #[arg(long, env = "CERTSTREAM_HTTP_READ_TIMEOUT_MS", default_value_t = crate::limits::READ_TIMEOUT.as_millis() as u64)]
    pub http_read_timeout_ms: u64,

    /// Milliseconds one whole CT request (connect, head and body) may take.
    #[arg(long, env = "CERTSTREAM_HTTP_REQUEST_TIMEOUT_MS", default_value_t = crate::limits::REQUEST_TIMEOUT.as_millis() as u64)]
    pub http_request_timeout_ms: u64,

    /// Longest backoff, in milliseconds, between retries of a failing CT request.
    #[arg(long, env = "CERTSTREAM_FETCH_BACKOFF_MAX_MS", default_value_t = crate::limits::BACKOFF_MAX.as_millis() as u64)]
    pub fetch_backoff_max_ms: u64,
}

/// The settings a `--config` TOML file may hold; any other key is an error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    workers: Option<usize>,
    log_list: Option<String>,
    ca_file: Option<PathBuf>,
    backfill: Option<String>,
    log_kinds: Option<String>,
    log_format: Option<String>,
    log_list_refresh_secs: Option<u64>,
    poll_interval_ms: Option<u64>,
    state_file: Option<PathBuf>,
    on_bad_state: Option<String>,
    auth_tokens: Option<Vec<String>>,
    max_connections: Option<usize>,
    max_connections_per_ip: Option<usize>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    http_connect_timeout_ms: Option<u64>,
    http_read_timeout_ms: Option<u64>,
    http_request_timeout_ms: Option<u64>,
    fetch_backoff_max_ms: Option<u64>,
}

impl Config {
    /// Parses the command line and environment, then fills the settings neither gave from the
    /// `--config` file. Errors name the file and key.
    pub fn load_from<I, T>(args: I) -> Result<Config, String>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches = Config::command()
            .try_get_matches_from(args)
            .map_err(|e| e.to_string())?;
        let mut config = Config::from_arg_matches(&matches).map_err(|e| e.to_string())?;
        if let Some(path) = config.config.clone() {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
            let file: FileConfig = toml::from_str(&text)
                .map_err(|e| format!("config file {}: {e}", path.display()))?;
            config
                .apply_file(file, &matches)
                .map_err(|e| format!("config file {}: {e}", path.display()))?;
        }
        Ok(config)
    }

    /// Takes each file value whose setting was left at its default (not given as a flag or in
    /// the environment).
    fn apply_file(&mut self, file: FileConfig, matches: &ArgMatches) -> Result<(), String> {
        let unset = |id: &str| {
            matches!(
                matches.value_source(id),
                None | Some(ValueSource::DefaultValue)
            )
        };
        if let (Some(v), true) = (file.listen, unset("listen")) {
            self.listen = v;
        }
        if let (Some(v), true) = (file.workers, unset("workers")) {
            self.workers = v;
        }
        if let (Some(v), true) = (file.log_list, unset("log_list")) {
            self.log_list = v;
        }
        if let (Some(v), true) = (file.ca_file, unset("ca_file")) {
            self.ca_file = Some(v);
        }
        if let (Some(v), true) = (file.backfill, unset("backfill")) {
            self.backfill = v.parse().map_err(|e| format!("backfill: {e}"))?;
        }
        if let (Some(v), true) = (file.log_kinds, unset("log_kinds")) {
            self.log_kinds = enum_value("log_kinds", &v)?;
        }
        if let (Some(v), true) = (file.log_format, unset("log_format")) {
            self.log_format = enum_value("log_format", &v)?;
        }
        if let (Some(v), true) = (file.log_list_refresh_secs, unset("log_list_refresh_secs")) {
            self.log_list_refresh_secs = v;
        }
        if let (Some(v), true) = (file.poll_interval_ms, unset("poll_interval_ms")) {
            self.poll_interval_ms = v;
        }
        if let (Some(v), true) = (file.state_file, unset("state_file")) {
            self.state_file = Some(v);
        }
        if let (Some(v), true) = (file.max_connections, unset("max_connections")) {
            self.max_connections = v;
        }
        if let (Some(v), true) = (file.max_connections_per_ip, unset("max_connections_per_ip")) {
            self.max_connections_per_ip = v;
        }
        if let (Some(v), true) = (file.auth_tokens, unset("auth_tokens")) {
            self.auth_tokens = v;
        }
        if let (Some(v), true) = (file.tls_cert, unset("tls_cert")) {
            self.tls_cert = Some(v);
        }
        if let (Some(v), true) = (file.tls_key, unset("tls_key")) {
            self.tls_key = Some(v);
        }
        if let (Some(v), true) = (file.on_bad_state, unset("on_bad_state")) {
            self.on_bad_state = enum_value("on_bad_state", &v)?;
        }
        let millis = [
            (
                file.http_connect_timeout_ms,
                "http_connect_timeout_ms",
                &mut self.http_connect_timeout_ms,
            ),
            (
                file.http_read_timeout_ms,
                "http_read_timeout_ms",
                &mut self.http_read_timeout_ms,
            ),
            (
                file.http_request_timeout_ms,
                "http_request_timeout_ms",
                &mut self.http_request_timeout_ms,
            ),
            (
                file.fetch_backoff_max_ms,
                "fetch_backoff_max_ms",
                &mut self.fetch_backoff_max_ms,
            ),
        ];
        for (value, id, field) in millis {
            if let (Some(v), true) = (value, unset(id)) {
                *field = v;
            }
        }
        Ok(())
    }

    /// The CT HTTP client's time bounds.
    pub fn http_timeouts(&self) -> crate::ct::http::Timeouts {
        crate::ct::http::Timeouts {
            connect: Duration::from_millis(self.http_connect_timeout_ms),
            read: Duration::from_millis(self.http_read_timeout_ms),
            request: Duration::from_millis(self.http_request_timeout_ms),
        }
    }

    /// The pollers' delays: the backoff ceiling from the configuration, the rest from
    /// [`crate::limits`].
    pub fn poller_timing(&self) -> crate::ct::poller::PollerTiming {
        let backoff_max = Duration::from_millis(self.fetch_backoff_max_ms);
        let defaults = crate::ct::poller::PollerTiming::default();
        crate::ct::poller::PollerTiming {
            backoff_max,
            backoff_min: defaults.backoff_min.min(backoff_max),
            ..defaults
        }
    }

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
        if self
            .auth_tokens
            .iter()
            .any(|t| t.len() < 16 || t.contains(char::is_whitespace))
        {
            return Err("auth-token values must be at least 16 characters without spaces".into());
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
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err("tls-cert and tls-key must be given together (or neither)".into());
        }
        self.validate_fetch_timing()
    }

    /// Timeouts and backoff: each at least 1 ms and at most an hour, and a whole request given
    /// at least as long as one connect.
    fn validate_fetch_timing(&self) -> Result<(), String> {
        let millis = [
            ("http-connect-timeout-ms", self.http_connect_timeout_ms),
            ("http-read-timeout-ms", self.http_read_timeout_ms),
            ("http-request-timeout-ms", self.http_request_timeout_ms),
            ("fetch-backoff-max-ms", self.fetch_backoff_max_ms),
        ];
        for (name, value) in millis {
            if value == 0 || value > 3_600_000 {
                return Err(format!("{name} must be between 1 and 3600000, got {value}"));
            }
        }
        if self.http_request_timeout_ms < self.http_connect_timeout_ms {
            return Err(format!(
                "http-request-timeout-ms ({}) must be at least http-connect-timeout-ms ({})",
                self.http_request_timeout_ms, self.http_connect_timeout_ms
            ));
        }
        Ok(())
    }
}

/// Parses a value of a `clap::ValueEnum` setting, naming the key and the allowed values.
fn enum_value<E: clap::ValueEnum>(key: &str, value: &str) -> Result<E, String> {
    E::from_str(value, true).map_err(|_| {
        let allowed: Vec<String> = E::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_owned()))
            .collect();
        format!("{key}: `{value}` is not one of {}", allowed.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(body: &str) -> PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "certstream-config-{}-{}.toml",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, body).unwrap();
        path
    }

    #[test]
    fn the_file_fills_what_flags_leave_at_their_defaults() {
        let path = file_with("workers = 3\nbackfill = \"all\"\nlog_kinds = \"static\"\nlisten = \"127.0.0.1:9000\"\n");
        let p = path.to_str().unwrap();
        let c = Config::load_from(["certstream", "--config", p, "--workers", "5"]).unwrap();
        assert_eq!(c.workers, 5, "a flag beats the file");
        assert_eq!(c.backfill, Backfill::All);
        assert_eq!(c.log_kinds, LogKinds::Static);
        assert_eq!(c.listen, "127.0.0.1:9000".parse().unwrap());
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let path = file_with("listen_port = 80\n");
        let err =
            Config::load_from(["certstream", "--config", path.to_str().unwrap()]).unwrap_err();
        assert!(
            err.contains("listen_port") && err.contains("workers"),
            "{err}"
        );
        let path2 = file_with("log_kinds = \"tiled\"\n");
        let err =
            Config::load_from(["certstream", "--config", path2.to_str().unwrap()]).unwrap_err();
        assert!(
            err.contains("log_kinds") && err.contains("rfc6962"),
            "{err}"
        );
        let path3 = file_with("workers = \"many\"\n");
        let err =
            Config::load_from(["certstream", "--config", path3.to_str().unwrap()]).unwrap_err();
        assert!(err.contains("workers"), "{err}");
        for p in [path, path2, path3] {
            std::fs::remove_file(p).unwrap();
        }
        let err = Config::load_from(["certstream", "--config", "/nonexistent.toml"]).unwrap_err();
        assert!(err.contains("/nonexistent.toml"), "{err}");
    }

    #[test]
    fn the_environment_beats_the_file_and_a_flag_beats_both() {
        let path = file_with("log_list_refresh_secs = 60\n");
        let p = path.to_str().unwrap();
        // SAFETY (edition 2021: safe fn): no other test reads this variable.
        std::env::set_var("CERTSTREAM_LOG_LIST_REFRESH_SECS", "120");
        let env = Config::load_from(["certstream", "--config", p]).unwrap();
        let flag =
            Config::load_from(["certstream", "--config", p, "--log-list-refresh-secs", "30"])
                .unwrap();
        std::env::remove_var("CERTSTREAM_LOG_LIST_REFRESH_SECS");
        let file = Config::load_from(["certstream", "--config", p]).unwrap();
        assert_eq!(env.log_list_refresh_secs, 120);
        assert_eq!(flag.log_list_refresh_secs, 30);
        assert_eq!(file.log_list_refresh_secs, 60);
        std::fs::remove_file(path).unwrap();
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

    #[test]
    fn tls_cert_and_key_come_together_from_flags_or_the_file() {
        let half = Config::try_parse_from(["certstream", "--tls-cert", "/c.pem"]).unwrap();
        assert!(half.validate().unwrap_err().contains("tls-key"));
        let c =
            Config::try_parse_from(["certstream", "--tls-cert", "/c.pem", "--tls-key", "/k.pem"])
                .unwrap();
        assert_eq!(c.tls_key.as_deref(), Some(std::path::Path::new("/k.pem")));
        assert_eq!(c.validate(), Ok(()));
        let half = file_with("tls_key = \"/k.pem\"\n");
        let p = half.to_str().unwrap();
        let c = Config::load_from(["certstream", "--config", p]).unwrap();
        assert!(
            c.validate().unwrap_err().contains("tls-cert"),
            "a key alone is refused"
        );
        let mixed = Config::load_from(["certstream", "--config", p, "--tls-cert", "/c.pem"]);
        assert_eq!(
            mixed.unwrap().validate(),
            Ok(()),
            "flag and file may each give one"
        );
        let both = file_with("tls_cert = \"/f.pem\"\ntls_key = \"/fk.pem\"\n");
        let c = Config::load_from([
            "certstream",
            "--config",
            both.to_str().unwrap(),
            "--tls-cert",
            "/c.pem",
            "--tls-key",
            "/k.pem",
        ])
        .unwrap();
        assert_eq!(
            c.tls_cert.as_deref(),
            Some(std::path::Path::new("/c.pem")),
            "flags beat the file"
        );
        for p in [half, both] {
            std::fs::remove_file(p).unwrap();
        }
    }

    #[test]
    fn fetch_timeouts_and_backoff_are_configurable_and_checked() {
        let d = Config::try_parse_from(["certstream"]).unwrap();
        assert_eq!(d.http_timeouts(), crate::ct::http::Timeouts::default());
        assert_eq!(
            d.poller_timing(),
            crate::ct::poller::PollerTiming::default()
        );
        let path = file_with("http_read_timeout_ms = 1500\nfetch_backoff_max_ms = 100\n");
        let c = Config::load_from([
            "certstream",
            "--config",
            path.to_str().unwrap(),
            "--http-request-timeout-ms",
            "12000",
        ])
        .unwrap();
        std::fs::remove_file(path).unwrap();
        c.validate().unwrap();
        let t = c.http_timeouts();
        assert_eq!(t.read, Duration::from_millis(1500));
        assert_eq!(t.request, Duration::from_millis(12000));
        assert_eq!(t.connect, crate::limits::CONNECT_TIMEOUT);
        let timing = c.poller_timing();
        assert_eq!(timing.backoff_max, Duration::from_millis(100));
        assert_eq!(timing.backoff_min, Duration::from_millis(100), "min ≤ max");
        let bad = Config::try_parse_from(["certstream", "--http-read-timeout-ms", "0"]).unwrap();
        assert!(bad.validate().unwrap_err().contains("http-read-timeout-ms"));
        let bad =
            Config::try_parse_from(["certstream", "--http-request-timeout-ms", "500"]).unwrap();
        assert!(bad
            .validate()
            .unwrap_err()
            .contains("at least http-connect-timeout-ms"));
    }
}
