//! SIGHUP: reload what can change live. The coordinator reloads the log list (on a reload
//! request from [`super::ServerControl::reload`]); this module reloads the access settings
//! (bearer tokens, connection limits, TLS certificate and key) on the caller's thread (the
//! signal thread), from the same sources as at boot: the process's own command line and
//! environment (unchanged) and the `--config` file, read again.
//!
//! A reload that fails (unreadable file, bad value, unusable PEM, TLS switched on or off) is
//! logged as an error and changes nothing: the settings in force stay, so a bad edit can never
//! open the server or take it down. A good one applies to connections accepted from then on;
//! open connections keep the settings they were admitted with.

use std::sync::Arc;

use crate::{
    config::Config,
    ws::{self, AccessSettings, AccessSource},
};

/// The settings every core of one server follows, and the configuration it booted with.
pub struct LiveSettings {
    source: Arc<AccessSource>,
    boot: Config,
}

impl LiveSettings {
    pub fn new(source: Arc<AccessSource>, boot: Config) -> LiveSettings {
        LiveSettings { source, boot }
    }

    /// Applies `fresh` (the configuration loaded again) to new connections, or logs why not.
    pub fn reload(&self, fresh: Result<Config, String>) {
        match apply(&self.source, &self.boot, fresh) {
            Ok(summary) => tracing::info!("configuration reloaded: {summary}"),
            Err(e) => {
                tracing::error!("configuration reload failed, keeping the current settings: {e}")
            }
        }
    }
}

/// The access settings `config` asks for; reads the TLS certificate and key files.
pub fn access_settings(config: &Config) -> Result<AccessSettings, String> {
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(ws::tls::server_config(cert, key)?),
        (None, None) => None,
        _ => return Err("tls-cert and tls-key must be given together (or neither)".into()),
    };
    Ok(AccessSettings {
        auth_tokens: config.auth_tokens.clone(),
        connections_max: config.max_connections,
        connections_per_ip_max: config.max_connections_per_ip,
        connection_rate_per_ip: config.connection_rate_per_ip,
        connection_burst_per_ip: config.connection_burst_per_ip,
        tls,
    })
}

/// Validates `fresh` completely before publishing anything; returns what now applies.
fn apply(
    source: &AccessSource,
    boot: &Config,
    fresh: Result<Config, String>,
) -> Result<String, String> {
    let fresh = fresh?;
    fresh.validate()?;
    if fresh.tls_cert.is_some() != boot.tls_cert.is_some() {
        return Err(
            "TLS cannot be switched on or off by a reload; restart the server for that".into(),
        );
    }
    let settings = access_settings(&fresh)?;
    for setting in boot.restart_only_changes(&fresh) {
        tracing::warn!("{setting} changed in the configuration; it takes effect after a restart");
    }
    let summary = format!(
        "{} auth token(s), max-connections {}, max-connections-per-ip {}, \
         connection-rate-per-ip {} (burst {}), tls-cert {}",
        settings.auth_tokens.len(),
        settings.connections_max,
        settings.connections_per_ip_max,
        settings.connection_rate_per_ip,
        settings.connection_burst_per_ip,
        fresh
            .tls_cert
            .as_deref()
            .map_or_else(|| "none".to_owned(), |p| p.display().to_string()),
    );
    source.publish(settings);
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Config {
        let mut all = vec!["certstream"];
        all.extend_from_slice(args);
        Config::load_from(all).unwrap()
    }

    const TOKEN_A: &str = "token-aaaaaaaaaaaaaaaa";
    const TOKEN_B: &str = "token-bbbbbbbbbbbbbbbb";

    #[test]
    fn a_good_reload_publishes_tokens_and_limits() {
        let boot = config(&["--auth-token", TOKEN_A]);
        let source = AccessSource::new(access_settings(&boot).unwrap());
        let fresh = config(&["--auth-token", TOKEN_B, "--max-connections-per-ip", "3"]);
        let summary = apply(&source, &boot, Ok(fresh)).unwrap();
        assert!(
            summary.contains("1 auth token(s)") && summary.contains("per-ip 3"),
            "{summary}"
        );
        let now = source.current();
        assert_eq!(now.auth_tokens, [TOKEN_B]);
        assert_eq!(now.connections_per_ip_max, 3);
    }

    #[test]
    fn a_bad_reload_changes_nothing() {
        let boot = config(&["--auth-token", TOKEN_A, "--max-connections", "5"]);
        let source = AccessSource::new(access_settings(&boot).unwrap());
        let unreadable = apply(&source, &boot, Err("config file /x.toml: bad".into()));
        assert!(unreadable.unwrap_err().contains("/x.toml"));
        let short_token = Config::load_from(["certstream", "--auth-token", "short"]);
        assert!(apply(&source, &boot, short_token).is_err());
        let tls_on = config(&["--tls-cert", "/c.pem", "--tls-key", "/k.pem"]);
        let err = apply(&source, &boot, Ok(tls_on)).unwrap_err();
        assert!(err.contains("restart"), "{err}");
        let now = source.current();
        assert_eq!(
            now.auth_tokens,
            [TOKEN_A],
            "never opened by a failed reload"
        );
        assert_eq!(now.connections_max, 5);
    }

    #[test]
    fn a_missing_key_file_fails_the_reload_and_names_the_file() {
        let dir = std::env::temp_dir().join(format!("certstream-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = ws::tls::tests::write_self_signed(&dir, "a");
        let (c, k) = (cert.to_str().unwrap(), key.to_str().unwrap());
        let boot = config(&["--tls-cert", c, "--tls-key", k]);
        let source = AccessSource::new(access_settings(&boot).unwrap());
        let before = source.current().tls.clone().unwrap();
        let missing = dir.join("missing-key.pem");
        let fresh = config(&["--tls-cert", c, "--tls-key", missing.to_str().unwrap()]);
        let err = apply(&source, &boot, Ok(fresh)).unwrap_err();
        assert!(err.contains("missing-key.pem"), "{err}");
        assert!(Arc::ptr_eq(&before, source.current().tls.as_ref().unwrap()));
        let (cert_b, key_b) = ws::tls::tests::write_self_signed(&dir, "b");
        let fresh = config(&[
            "--tls-cert",
            cert_b.to_str().unwrap(),
            "--tls-key",
            key_b.to_str().unwrap(),
        ]);
        apply(&source, &boot, Ok(fresh)).unwrap();
        assert!(
            !Arc::ptr_eq(&before, source.current().tls.as_ref().unwrap()),
            "new certificate published"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn settings_only_a_restart_applies_are_named() {
        let boot = config(&[]);
        let mut fresh = boot.clone();
        fresh.workers = 3;
        fresh.poll_interval_ms = 50;
        assert_eq!(
            boot.restart_only_changes(&fresh),
            ["workers", "poll-interval-ms"]
        );
        assert!(boot.restart_only_changes(&boot).is_empty());
    }
}
