//! Configuration: every setting is declared once, as a field of [`Config`]. The field's
//! `#[arg]` carries its flag, its `CERTSTREAM_*` environment variable, its default (from
//! [`crate::limits`]) and its check (a clap value parser); its doc comment is the help text; its
//! name is its key in the optional TOML file (`--config`). Precedence: flag, then environment,
//! then file, then default.
//!
//! The file layer knows no setting by name: each key must name a setting, and its value is
//! written out as that setting's command-line argument and parsed by clap with the same value
//! parser, so a value gets the same check and the same message wherever it comes from (a file
//! error also names the file and the key). Checks that involve two settings are in
//! [`Config::validate`].
//!
//! # Adding a setting
//!
//! One edit in code: a field of [`Config`] (its default and bounds, like every bound, named in
//! `limits.rs`), for example
//!
//! ```text
//! /// Milliseconds a CT log may take to answer a head poll.
//! #[arg(long, env = "CERTSTREAM_HEAD_TIMEOUT_MS",
//!       default_value_t = limits::HEAD_TIMEOUT.as_millis() as u64,
//!       value_parser = clap::value_parser!(u64).range(1..=limits::SETTING_MILLIS_MAX))]
//! pub head_timeout_ms: u64,
//! ```
//!
//! The file key `head_timeout_ms` comes with it. The tests below cover it untouched: its
//! precedence through every layer, the completeness of its declaration, and its row in
//! README's configuration table (which they require).

use std::{
    ffi::{OsStr, OsString},
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use clap::{
    builder::{RangedU64ValueParser, TypedValueParser},
    error::ErrorKind,
    parser::ValueSource,
    Arg, ArgAction, ArgMatches, CommandFactory, FromArgMatches, Parser,
};

use crate::{
    ct::{
        http::Timeouts,
        log_list::{APPLE_LOG_LIST_URL, GOOGLE_LOG_LIST_URL},
        poller::{Backfill, PollerTiming},
    },
    limits,
};

/// The `--help` heading of the settings SIGHUP applies to a running server (the tokens, the
/// connection limits and the TLS certificate); every other setting takes a restart, and
/// [`Config::restart_only_changes`] names those that changed.
pub const RELOADED_ON_SIGHUP: &str = "Reloaded on SIGHUP";

/// The default `--log-list`: Google's v3 list and Apple's, merged (see [`crate::ct::log_lists`]).
pub const DEFAULT_LOG_LISTS: [&str; 2] = [GOOGLE_LOG_LIST_URL, APPLE_LOG_LIST_URL];

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

/// The server's settings: one field per setting, each with a flag, a `CERTSTREAM_<NAME>`
/// environment variable and a key in the `--config` file (see the module docs).
#[derive(Debug, Clone, Parser)]
#[command(name = "certstream", version, about)]
pub struct Config {
    /// TOML file with any of the settings below; a key is the flag with `_` for `-`
    /// (`auth_tokens` for `--auth-token`, a list).
    #[arg(long, env = "CERTSTREAM_CONFIG")]
    pub config: Option<PathBuf>,

    /// Validate the configuration (and the log list file, if one is given), print it, and exit.
    #[arg(long)]
    pub check_config: bool,

    /// Address the WebSocket/HTTP listener binds on every executor (SO_REUSEPORT).
    #[arg(long, env = "CERTSTREAM_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,

    /// Executors (one pinned thread per core). 0 = one per available CPU.
    #[arg(
        long,
        env = "CERTSTREAM_WORKERS",
        default_value_t = 0,
        value_parser = RangedU64ValueParser::<usize>::new().range(0..=limits::WORKERS_MAX as u64)
    )]
    pub workers: usize,

    /// CT log list v3 (Google's or Apple's schema): an http(s):// URL or a file path; repeat
    /// the flag (or comma-separate in the environment) to follow several, merged by log ID.
    /// Each is loaded on its own; a URL that cannot be fetched at start falls back to the copy
    /// compiled into the binary when it has one (the two defaults), else is skipped until it
    /// can be (and the log says so).
    #[arg(
        long,
        env = "CERTSTREAM_LOG_LIST",
        default_values = DEFAULT_LOG_LISTS,
        value_delimiter = ',',
        value_parser = url_or_path
    )]
    pub log_list: Vec<String>,

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

    /// Directory of the replay store: every streamed entry is kept there (bounded by
    /// `--replay-max-bytes` and `--replay-max-age`) so clients can resume with `?since=`.
    /// Without it, `?resume` still sends cursors but nothing can be replayed.
    #[arg(long, env = "CERTSTREAM_REPLAY_DIR")]
    pub replay_dir: Option<PathBuf>,

    /// Most bytes the replay store keeps on disk; the oldest segments go first.
    #[arg(
        long,
        env = "CERTSTREAM_REPLAY_MAX_BYTES",
        default_value_t = limits::REPLAY_MAX_BYTES_DEFAULT,
        value_parser = clap::value_parser!(u64).range(limits::REPLAY_MAX_BYTES_MIN..)
    )]
    pub replay_max_bytes: u64,

    /// Seconds the replay store keeps an entry (by when it was first seen).
    #[arg(
        long,
        env = "CERTSTREAM_REPLAY_MAX_AGE_SECS",
        default_value_t = limits::REPLAY_MAX_AGE_DEFAULT.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..=limits::SETTING_MILLIS_MAX / 1000)
    )]
    pub replay_max_age_secs: u64,

    /// Clients replaying from the store at once (each executor takes its share); past it a
    /// `?since=` request gets 503.
    #[arg(
        long,
        env = "CERTSTREAM_REPLAY_MAX_CLIENTS",
        default_value_t = limits::REPLAY_MAX_CLIENTS_DEFAULT,
        value_parser = clap::value_parser!(u64).range(1..=100_000)
    )]
    pub replay_max_clients: u64,

    /// Most client connections the process holds (0 = no limit); past it new ones get 503.
    #[arg(long, env = "CERTSTREAM_MAX_CONNECTIONS", default_value_t = 0, help_heading = RELOADED_ON_SIGHUP)]
    pub max_connections: usize,

    /// Most client connections from one IP address (0 = no limit); past it new ones get 429.
    #[arg(long, env = "CERTSTREAM_MAX_CONNECTIONS_PER_IP", default_value_t = 0, help_heading = RELOADED_ON_SIGHUP)]
    pub max_connections_per_ip: usize,

    /// New connections per second one IP address (an IPv6 address: its /64) may open,
    /// sustained (0 = no limit; a fraction such as 0.5 is one every 2 s); past it and past its
    /// burst new ones get 429. Each executor counts the connections it accepts, so with N
    /// executors an address may open up to N times this.
    #[arg(
        long,
        env = "CERTSTREAM_CONNECTION_RATE_PER_IP",
        default_value_t = 0.0,
        value_parser = connection_rate,
        help_heading = RELOADED_ON_SIGHUP
    )]
    pub connection_rate_per_ip: f64,

    /// Connections one IP address may open at once before `--connection-rate-per-ip` applies
    /// (per executor, like the rate).
    #[arg(
        long,
        env = "CERTSTREAM_CONNECTION_BURST_PER_IP",
        default_value_t = limits::CONNECTION_BURST_PER_IP,
        value_parser = clap::value_parser!(u32).range(1..=i64::from(limits::CONNECTION_BURST_PER_IP_MAX)),
        help_heading = RELOADED_ON_SIGHUP
    )]
    pub connection_burst_per_ip: u32,

    /// Bearer token clients must present (`Authorization: Bearer T` or `?token=T`); repeat the
    /// flag (or comma-separate in the environment) for several. Off when none is given;
    /// `/health` stays open.
    #[arg(
        long = "auth-token",
        env = "CERTSTREAM_AUTH_TOKENS",
        value_delimiter = ',',
        hide_env_values = true,
        value_parser = AuthTokenParser,
        help_heading = RELOADED_ON_SIGHUP
    )]
    pub auth_tokens: Vec<String>,

    /// PEM certificate chain (leaf first) to serve TLS with (wss:// and https://, on the
    /// listen port); needs `--tls-key`. Reloaded on SIGHUP.
    #[arg(long, env = "CERTSTREAM_TLS_CERT", help_heading = RELOADED_ON_SIGHUP)]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `--tls-cert`. Reloaded on SIGHUP.
    #[arg(long, env = "CERTSTREAM_TLS_KEY", help_heading = RELOADED_ON_SIGHUP)]
    pub tls_key: Option<PathBuf>,

    /// Which log kinds to follow.
    #[arg(long, env = "CERTSTREAM_LOG_KINDS", value_enum, default_value_t = LogKinds::Both)]
    pub log_kinds: LogKinds,

    /// Log line format on stderr.
    #[arg(long, env = "CERTSTREAM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Seconds between refreshes of the log list (logs are added and retired without a restart).
    #[arg(
        long,
        env = "CERTSTREAM_LOG_LIST_REFRESH_SECS",
        default_value_t = limits::LOG_LIST_REFRESH.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..=limits::LOG_LIST_REFRESH_SECS_MAX)
    )]
    pub log_list_refresh_secs: u64,

    /// Milliseconds between polls of each log's tree head (get-sth / checkpoint).
    #[arg(
        long,
        env = "CERTSTREAM_POLL_INTERVAL_MS",
        default_value_t = limits::HEAD_POLL_INTERVAL.as_millis() as u64,
        value_parser = clap::value_parser!(u64).range(1..=limits::SETTING_MILLIS_MAX)
    )]
    pub poll_interval_ms: u64,

    /// Milliseconds a TCP connect (and, separately, a TLS handshake) to a CT log may take.
    #[arg(
        long,
        env = "CERTSTREAM_HTTP_CONNECT_TIMEOUT_MS",
        default_value_t = limits::CONNECT_TIMEOUT.as_millis() as u64,
        value_parser = clap::value_parser!(u64).range(1..=limits::SETTING_MILLIS_MAX)
    )]
    pub http_connect_timeout_ms: u64,

    /// Milliseconds a CT log may leave a request without sending a byte before it is given up.
    #[arg(
        long,
        env = "CERTSTREAM_HTTP_READ_TIMEOUT_MS",
        default_value_t = limits::READ_TIMEOUT.as_millis() as u64,
        value_parser = clap::value_parser!(u64).range(1..=limits::SETTING_MILLIS_MAX)
    )]
    pub http_read_timeout_ms: u64,

    /// Milliseconds one whole CT request (connect, head and body) may take; at least
    /// `--http-connect-timeout-ms`.
    #[arg(
        long,
        env = "CERTSTREAM_HTTP_REQUEST_TIMEOUT_MS",
        default_value_t = limits::REQUEST_TIMEOUT.as_millis() as u64,
        value_parser = clap::value_parser!(u64).range(1..=limits::SETTING_MILLIS_MAX)
    )]
    pub http_request_timeout_ms: u64,

    /// Longest backoff, in milliseconds, between retries of a failing CT request.
    #[arg(
        long,
        env = "CERTSTREAM_FETCH_BACKOFF_MAX_MS",
        default_value_t = limits::BACKOFF_MAX.as_millis() as u64,
        value_parser = clap::value_parser!(u64).range(1..=limits::SETTING_MILLIS_MAX)
    )]
    pub fetch_backoff_max_ms: u64,

    /// Seconds a core remembers a certificate for clients that ask for `dedup=` (a duplicate
    /// arriving later is sent again); memory is bounded by `limits::DEDUP_KEYS_MAX` keys per
    /// core whatever the window.
    #[arg(
        long,
        env = "CERTSTREAM_DEDUP_WINDOW",
        default_value_t = limits::DEDUP_WINDOW_DEFAULT.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..=limits::DEDUP_WINDOW_MAX_SECS)
    )]
    pub dedup_window: u64,
}

/// Arguments that steer the command itself rather than the server: no file may set them.
const COMMAND_ONLY: [&str; 4] = ["config", "check_config", "help", "version"];

/// The settings: every argument of `cmd` (built from [`Config`]) but the command-only ones.
/// Each one's id (its field name) is its key in the `--config` file.
fn settings(cmd: &clap::Command) -> impl Iterator<Item = &Arg> {
    cmd.get_arguments()
        .filter(|arg| !COMMAND_ONLY.contains(&arg.get_id().as_str()))
}

impl Config {
    /// Every setting and its value as `{:?}` shows it, keyed by its id (the field name, which
    /// is also its file key): a view of the configuration that needs no list of the settings.
    pub fn settings(&self) -> Vec<(String, String)> {
        let pretty = format!("{self:#?}");
        let mut settings: Vec<(String, String)> = Vec::new();
        for line in pretty.lines().skip(1).filter(|line| *line != "}") {
            let field = line
                .strip_prefix("    ")
                .filter(|f| f.starts_with(char::is_alphabetic));
            match (field.and_then(|f| f.split_once(": ")), settings.last_mut()) {
                (Some((id, value)), _) => settings.push((id.to_owned(), value.to_owned())),
                (None, Some((_, value))) => value.push_str(line.trim()),
                (None, None) => {}
            }
        }
        settings
    }

    /// The flags (without `--`) of the settings whose value differs in `fresh` but that only a
    /// restart applies: every setting not declared under [`RELOADED_ON_SIGHUP`].
    pub fn restart_only_changes(&self, fresh: &Config) -> Vec<String> {
        let command = Config::command();
        let (now, then) = (self.settings(), fresh.settings());
        now.iter()
            .zip(&then)
            .filter(|((_, a), (_, b))| a != b)
            .filter_map(|((id, _), _)| command.get_arguments().find(|a| a.get_id() == id))
            .filter(|arg| arg.get_help_heading() != Some(RELOADED_ON_SIGHUP))
            .filter(|arg| !COMMAND_ONLY.contains(&arg.get_id().as_str()))
            .filter_map(|arg| arg.get_long().map(str::to_owned))
            .collect()
    }

    /// Parses the command line and environment, then fills the settings neither gave from the
    /// `--config` file. Errors name the file and key.
    pub fn load_from<I, T>(args: I) -> Result<Config, String>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let given = parse(args.iter().cloned()).map_err(|e| e.to_string())?;
        let matches = match given.get_one::<PathBuf>("config").cloned() {
            None => given,
            Some(path) => {
                let in_file = |e: String| format!("config file {}: {e}", path.display());
                let file_args = file_arguments(&read_table(&path)?, &given).map_err(in_file)?;
                parse(with_file_arguments(&args, file_args)).map_err(|e| in_file(e.to_string()))?
            }
        };
        Config::from_arg_matches(&matches).map_err(|e| e.to_string())
    }

    /// The CT HTTP client's time bounds.
    pub fn http_timeouts(&self) -> Timeouts {
        Timeouts {
            connect: Duration::from_millis(self.http_connect_timeout_ms),
            read: Duration::from_millis(self.http_read_timeout_ms),
            request: Duration::from_millis(self.http_request_timeout_ms),
        }
    }

    /// The pollers' delays: the backoff ceiling from the configuration, the rest from
    /// [`crate::limits`].
    pub fn poller_timing(&self) -> PollerTiming {
        let backoff_max = Duration::from_millis(self.fetch_backoff_max_ms);
        let defaults = PollerTiming::default();
        PollerTiming {
            backoff_max,
            backoff_min: defaults.backoff_min.min(backoff_max),
            ..defaults
        }
    }

    /// Checks that involve more than one setting; each setting's own check is in its
    /// declaration and has already run.
    pub fn validate(&self) -> Result<(), String> {
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err("tls-cert and tls-key must be given together (or neither)".into());
        }
        if let Some(twice) = given_twice(&self.log_list) {
            return Err(format!("log-list {twice} is given twice"));
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

/// A `--connection-rate-per-ip`: 0 (off) or a number of connections per second in
/// [`limits::CONNECTION_RATE_PER_IP_MIN`]..=[`limits::CONNECTION_RATE_PER_IP_MAX`].
fn connection_rate(text: &str) -> Result<f64, String> {
    let (min, max) = (
        limits::CONNECTION_RATE_PER_IP_MIN,
        limits::CONNECTION_RATE_PER_IP_MAX,
    );
    match text.trim().parse::<f64>() {
        Ok(rate) if rate == 0.0 || (min..=max).contains(&rate) => Ok(rate),
        _ => Err(format!(
            "must be 0 (no limit) or a number of connections per second from {min} to {max}"
        )),
    }
}

fn parse(args: impl IntoIterator<Item = OsString>) -> Result<ArgMatches, clap::Error> {
    Config::command().try_get_matches_from(args)
}

fn read_table(path: &Path) -> Result<toml::Table, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
    text.parse()
        .map_err(|e| format!("config file {}: {e}", path.display()))
}

/// The command line with the file's arguments put first, so that the real ones keep their
/// meaning even after a `--` (none of them repeats a file one: see [`file_arguments`]).
fn with_file_arguments(args: &[OsString], file_args: Vec<OsString>) -> Vec<OsString> {
    let program = args.first().cloned().unwrap_or_else(|| "certstream".into());
    let rest = args.iter().skip(1).cloned();
    std::iter::once(program)
        .chain(file_args)
        .chain(rest)
        .collect()
}

/// The file's settings as command-line arguments, for each setting that neither the command
/// line nor the environment gave. Every key is checked, given elsewhere or not: a bad file is
/// refused whatever overrides it.
fn file_arguments(table: &toml::Table, given: &ArgMatches) -> Result<Vec<OsString>, String> {
    let cmd = Config::command();
    let mut file_args = Vec::new();
    for (key, value) in table {
        let arg = settings(&cmd)
            .find(|arg| arg.get_id().as_str() == key)
            .ok_or_else(|| unknown_key(&cmd, key))?;
        let args = as_arguments(arg, value)
            .and_then(checked_alone)
            .map_err(|e| format!("{key}: {e}"))?;
        let given_elsewhere = matches!(
            given.value_source(key),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        );
        if !given_elsewhere {
            file_args.extend(args);
        }
    }
    Ok(file_args)
}

/// `value` written as the command-line arguments that give it: a list as the flag repeated, a
/// boolean of an on/off flag as the flag present or absent, anything else as its text.
fn as_arguments(arg: &Arg, value: &toml::Value) -> Result<Vec<OsString>, String> {
    let long = arg
        .get_long()
        .ok_or("cannot be set in a file (it has no flag)")?;
    let with_value = |text: String| OsString::from(format!("--{long}={text}"));
    let on_off = matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse);
    match value {
        toml::Value::Boolean(on) if on_off => {
            let present = *on == matches!(arg.get_action(), ArgAction::SetTrue);
            Ok(present
                .then(|| format!("--{long}").into())
                .into_iter()
                .collect())
        }
        _ if on_off => Err("must be true or false".into()),
        toml::Value::Array(items) if matches!(arg.get_action(), ArgAction::Append) => items
            .iter()
            .map(|item| one_value(arg, item).map(with_value))
            .collect(),
        toml::Value::Array(_) => Err("takes one value, not a list".into()),
        value => Ok(vec![with_value(one_value(arg, value)?)]),
    }
}

/// One value's text. Clap splits a value at its setting's delimiter (the `,` that lets one
/// environment variable hold several tokens), so a file value holding it is refused rather
/// than silently cut in two.
fn one_value(arg: &Arg, value: &toml::Value) -> Result<String, String> {
    let text = match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(x) => x.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(_) | toml::Value::Table(_) => {
            return Err("a value must be a string, a number or a boolean".into())
        }
    };
    match arg.get_value_delimiter() {
        Some(d) if text.contains(d) => Err(format!(
            "a value may not contain `{d}` (it separates values in the environment); \
             give a list instead"
        )),
        _ => Ok(text),
    }
}

/// Parses one setting's arguments on their own, so a bad value is reported with its key and
/// with the message the flag would get.
fn checked_alone(args: Vec<OsString>) -> Result<Vec<OsString>, String> {
    let argv = std::iter::once(OsString::from("certstream")).chain(args.iter().cloned());
    parse(argv).map_err(|e| one_line(&e))?;
    Ok(args)
}

/// A clap error on one line, without its `error: ` prefix and its `--help` tip, to follow a
/// file name and key.
fn one_line(e: &clap::Error) -> String {
    let text = e.to_string();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("For more information"))
        .collect();
    lines.join(" ").trim_start_matches("error: ").to_owned()
}

/// Names the unknown key, the setting it most likely meant, and every key there is.
fn unknown_key(cmd: &clap::Command, key: &str) -> String {
    let underscored = key.replace('-', "_");
    let meant = settings(cmd).find(|arg| {
        arg.get_id().as_str() == underscored
            || arg.get_long().map(|l| l.replace('-', "_")) == Some(underscored.clone())
    });
    let hint = meant.map_or_else(String::new, |arg| {
        format!(" (did you mean `{}`?)", arg.get_id())
    });
    let keys: Vec<&str> = settings(cmd).map(|arg| arg.get_id().as_str()).collect();
    format!(
        "unknown key `{key}`{hint}; the keys are {}",
        keys.join(", ")
    )
}

/// The first value given more than once.
fn given_twice(values: &[String]) -> Option<&str> {
    values
        .iter()
        .enumerate()
        .find(|(i, v)| values[..*i].contains(v))
        .map(|(_, v)| v.as_str())
}

/// `--log-list`: anything but a blank string (a URL or a path is told apart later).
fn url_or_path(value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        return Err("must be a URL or a path, got an empty string".into());
    }
    Ok(value.to_owned())
}

/// Checks an `--auth-token` value without ever repeating it: clap's own messages quote the
/// rejected value, and a token (even a mistyped one) must not reach a terminal or a log.
#[derive(Debug, Clone, Copy)]
struct AuthTokenParser;

impl TypedValueParser for AuthTokenParser {
    type Value = String;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        _arg: Option<&Arg>,
        value: &OsStr,
    ) -> Result<String, clap::Error> {
        let usable =
            |t: &&str| t.len() >= limits::AUTH_TOKEN_BYTES_MIN && !t.contains(char::is_whitespace);
        value
            .to_str()
            .filter(usable)
            .map(str::to_owned)
            .ok_or_else(|| {
                clap::Error::raw(
                    ErrorKind::ValueValidation,
                    format!(
                        "auth-token values must be at least {} characters without spaces\n",
                        limits::AUTH_TOKEN_BYTES_MIN
                    ),
                )
            })
    }
}

pub mod watch;

#[cfg(test)]
mod tests;
