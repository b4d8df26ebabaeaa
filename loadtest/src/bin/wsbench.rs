//! `wsbench`: N WebSocket clients in one process; prints a JSON report (see
//! `loadtest::bench::wsbench`).
//!
//! ```text
//! wsbench --url ws://127.0.0.1:8080/ --clients 500 --warmup 10 --duration 60 --json-out r.json
//! wsbench --url ws://127.0.0.1:8080/ --clients 50 --duration 20 \
//!         --sim-state http://127.0.0.1:9000/sim/state --gap-start http://127.0.0.1:9000/log0=1200 \
//!         --server-report http://127.0.0.1:8080/health/deep
//! ```
//!
//! The gap check expects the entries `/sim/state` lists as corrupted (and any `--expect-skip`)
//! to be skipped: they must not arrive, and with `--server-report` the server must list them.

use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use loadtest::bench::wsbench::{self, GapCheckConfig, WsBenchConfig};

#[derive(Parser, Debug)]
#[command(about = "Native WebSocket load generator for certstream servers")]
struct Args {
    /// ws://host:port/path or wss://host:port/path (the path selects the stream).
    #[arg(long)]
    url: String,
    /// PEM file of the CA that signed the server's certificate (needed for wss://).
    #[arg(long)]
    ca_file: Option<std::path::PathBuf>,
    /// Clients in all (slow ones included).
    #[arg(long, default_value_t = 500)]
    clients: usize,
    /// Measured window, seconds.
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
    /// Warm-up after all clients connected, seconds.
    #[arg(long, default_value_t = 10.0)]
    warmup: f64,
    /// Clients that connect and never read.
    #[arg(long, default_value_t = 0)]
    slow: usize,
    /// Connects in flight at once.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Bytes per read call.
    #[arg(long, default_value_t = loadtest::bench::limits::READ_BUF_BYTES)]
    read_buf: usize,
    /// Gap-check mode: the simulator's /sim/state URL.
    #[arg(long)]
    sim_state: Option<String>,
    /// Gap-check start per log, URL=INDEX (repeatable); other logs start at each client's first
    /// message.
    #[arg(long, value_parser = parse_start)]
    gap_start: Vec<(String, u64)>,
    /// Gap check: an entry that must not arrive, URL=INDEX (repeatable), besides those the
    /// simulator lists as corrupted.
    #[arg(long, value_parser = parse_start)]
    expect_skip: Vec<(String, u64)>,
    /// Gap check: the server's report of skipped entries (certstream: /health/deep).
    #[arg(long)]
    server_report: Option<String>,
    /// Longest wait for clients to reach the final tree sizes, seconds.
    #[arg(long, default_value_t = 20.0)]
    drain_timeout: f64,
    /// Also write the JSON report here.
    #[arg(long)]
    json_out: Option<std::path::PathBuf>,
}

fn parse_start(s: &str) -> Result<(String, u64), String> {
    let (url, idx) = s.rsplit_once('=').ok_or("expected URL=INDEX")?;
    let idx = idx.parse().map_err(|e| format!("bad index {idx:?}: {e}"))?;
    Ok((url.to_string(), idx))
}

fn secs(s: f64, what: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s)
        .with_context(|| format!("--{what} must be a non-negative number"))
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let mut cfg = WsBenchConfig::new(&a.url, a.clients);
    cfg.slow = a.slow;
    cfg.duration = secs(a.duration, "duration")?;
    cfg.warmup = secs(a.warmup, "warmup")?;
    cfg.connect_concurrency = a.connect_concurrency;
    cfg.threads = a.threads;
    cfg.read_buf_bytes = a.read_buf;
    cfg.ca_file = a.ca_file.clone();
    if let Some(state) = &a.sim_state {
        let mut g = GapCheckConfig::new(state);
        g.starts = a.gap_start.clone();
        g.expected_skips = a.expect_skip.clone();
        g.server_report_url = a.server_report.clone();
        g.drain_timeout = secs(a.drain_timeout, "drain-timeout")?;
        cfg.gap = Some(g);
    } else if !a.gap_start.is_empty() || !a.expect_skip.is_empty() || a.server_report.is_some() {
        anyhow::bail!("--gap-start, --expect-skip and --server-report need --sim-state");
    }
    let report = wsbench::run(&cfg, &mut |_| {})?;
    let json = serde_json::to_string_pretty(&report)?;
    if let Some(p) = &a.json_out {
        std::fs::write(p, &json).with_context(|| format!("writing {}", p.display()))?;
    }
    println!("{json}");
    Ok(())
}
