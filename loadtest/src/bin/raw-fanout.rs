//! `raw-fanout`: the machine's baseline sender (see `loadtest::bench::fanout`). Prints
//! `{"listening":"127.0.0.1:PORT"}` once bound, and a JSON report when done.
//!
//! ```text
//! raw-fanout --listen 127.0.0.1:0 --duration 30            # as fast as the clients read
//! raw-fanout --listen 127.0.0.1:9100 --rate 1000 --duration 60
//! ```

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use loadtest::bench::fanout::{self, FanoutConfig};

#[derive(Parser, Debug)]
#[command(about = "Trivial coalescing WebSocket fan-out sender (benchmark baseline)")]
struct Args {
    /// Loopback address to listen on (port 0 = any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Messages per second in the stream; 0 = as fast as the slowest reading client.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Seconds to serve.
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
    /// Distinct source URLs (logs) the frames rotate over.
    #[arg(long, default_value_t = 16)]
    logs: usize,
    /// With --rate: milliseconds between bursts (each carries the frames due), e.g. 62.5 for
    /// the steady-500 shape of 16 logs each moving its tree head once a second.
    #[arg(long, default_value_t = 1.0)]
    tick_ms: f64,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    if !a.listen.ip().is_loopback() {
        bail!("raw-fanout only listens on loopback, not {}", a.listen);
    }
    let cfg = FanoutConfig {
        rate: (a.rate > 0).then_some(a.rate),
        threads: a.threads,
        duration: Duration::try_from_secs_f64(a.duration).context("--duration")?,
        logs: a.logs,
        tick: Duration::try_from_secs_f64(a.tick_ms / 1000.0)
            .ok()
            .filter(|t| !t.is_zero())
            .context("--tick-ms must be positive")?,
    };
    let listener =
        std::net::TcpListener::bind(a.listen).with_context(|| format!("bind {}", a.listen))?;
    let addr = listener.local_addr()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{{\"listening\":\"{addr}\"}}")?;
    out.flush()?;
    drop(out);
    let report = fanout::serve(&cfg, listener, Arc::new(AtomicBool::new(false)))?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
