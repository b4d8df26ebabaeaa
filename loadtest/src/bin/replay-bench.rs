//! replay-bench: what the replay store costs and what it gives, in one run (issue #14).
//!
//! 1. Two servers (release binary given by `--server`) follow the same simulator and backfill
//!    the same backlog (`--backlog` entries over three logs) at full speed: one with
//!    `--replay-dir`, one without. CPU seconds per ingested entry, both, and so the store's
//!    write cost per entry; disk bytes per entry; RSS of both.
//! 2. The logs then grow at `--live-rate`; `--live-clients` lite clients on the store server
//!    measure delivery latency (now − `seen`) for `--window-secs`: the baseline.
//! 3. One client connects to `/full-stream?since=<before the backlog>` and reads as fast as it
//!    can until it is live: replay messages/s and MB/s, and the live clients' latency meanwhile
//!    (same run, same clients).
//!
//! Writes `results.json` and `summary.md` to `--out`. Loopback only.
//!
//! `cargo run --release -p loadtest --bin replay-bench -- --server target/release/certstream --out bench-results/X`

use std::{
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use clap::Parser;
use hdrhistogram::Histogram;
use loadtest::{
    bench::sys,
    sim::{self, SimConfig, SimHandle},
};
use serde::Serialize;
use tungstenite::{stream::MaybeTlsStream, Message, WebSocket};

#[derive(Parser)]
struct Args {
    /// The server binary (release build).
    #[arg(long)]
    server: PathBuf,
    /// Results directory.
    #[arg(long)]
    out: PathBuf,
    /// Entries the logs hold before the servers start (backfilled, then replayed).
    #[arg(long, default_value_t = 150_000)]
    backlog: u64,
    /// Entries per second over all logs once the backlog is in.
    #[arg(long, default_value_t = 400.0)]
    live_rate: f64,
    /// Live lite clients measuring latency.
    #[arg(long, default_value_t = 100)]
    live_clients: usize,
    /// Length of the baseline window.
    #[arg(long, default_value_t = 20)]
    window_secs: u64,
}

/// One server child, killed on drop.
struct ServerChild {
    child: Child,
    addr: String,
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(
    bin: &Path,
    log_list: &str,
    replay: Option<&Path>,
    log: &Path,
) -> Result<ServerChild> {
    let mut cmd = Command::new(bin);
    cmd.args([
        "--log-list",
        log_list,
        "--listen",
        "127.0.0.1:0",
        "--backfill",
        "all",
    ])
    .args(["--poll-interval-ms", "500"])
    .env("RUST_LOG", "info")
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(log)?);
    if let Some(dir) = replay {
        cmd.arg("--replay-dir").arg(dir);
    }
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(addr) = text.lines().find_map(listen_addr) {
            return Ok(ServerChild { child, addr });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!(
        "the server did not say where it listens (see {})",
        log.display()
    )
}

/// `... listening addr=127.0.0.1:PORT ...` → `127.0.0.1:PORT`.
fn listen_addr(line: &str) -> Option<String> {
    let at = line.find("127.0.0.1:")?;
    let rest = &line[at..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))
        .unwrap_or(rest.len());
    line.contains("listening").then(|| rest[..end].to_owned())
}

/// Sum of `certstream_log_cursor` over the logs, from /metrics.
fn streamed(addr: &str) -> u64 {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return 0;
    };
    use std::io::{Read, Write};
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.lines()
        .filter(|l| l.starts_with("certstream_log_cursor{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

#[derive(Serialize, Default, Clone)]
struct Ingest {
    entries: u64,
    seconds: f64,
    cpu_seconds: f64,
    cpu_us_per_entry: f64,
    rss_mb: f64,
}

/// Waits until `server` has streamed `entries`; its CPU and time to get there.
fn ingest(server: &ServerChild, entries: u64) -> Result<Ingest> {
    let pid = server.child.id();
    let started = Instant::now();
    let cpu0 = sys::proc_cpu(pid).unwrap_or_default();
    while streamed(&server.addr) < entries {
        if started.elapsed() > Duration::from_secs(900) {
            bail!("backfill of {entries} entries did not finish in 15 minutes");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let cpu = (sys::proc_cpu(pid).unwrap_or_default() - cpu0).as_secs_f64();
    Ok(Ingest {
        entries,
        seconds: started.elapsed().as_secs_f64(),
        cpu_seconds: cpu,
        cpu_us_per_entry: cpu * 1e6 / entries as f64,
        rss_mb: sys::proc_rss(pid).map_or(0.0, |r| r.rss_kib as f64 / 1024.0),
    })
}

fn connect(url: &str) -> Result<WebSocket<MaybeTlsStream<TcpStream>>> {
    let (mut ws, _) = tungstenite::connect(url).with_context(|| url.to_owned())?;
    if let MaybeTlsStream::Plain(s) = ws.get_mut() {
        s.set_read_timeout(Some(Duration::from_millis(100)))?;
    }
    Ok(ws)
}

/// `"seen":<secs>` of a certificate_update, without parsing the whole message.
fn seen_us(text: &str) -> Option<u64> {
    let at = text.find("\"seen\":")? + 7;
    let rest = &text[at..];
    let end = rest.find([',', '}'])?;
    rest[..end]
        .trim()
        .parse::<f64>()
        .ok()
        .map(|s| (s * 1e6) as u64)
}

/// A live client: records now − seen of every certificate into the histogram of the current
/// window (0: baseline, 1: during the replay).
fn live_client(
    url: String,
    window: Arc<std::sync::atomic::AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> Result<[Histogram<u64>; 2]> {
    let mut ws = connect(&url)?;
    let mut hists = [Histogram::<u64>::new(3)?, Histogram::<u64>::new(3)?];
    while !stop.load(Ordering::Relaxed) {
        match ws.read() {
            Ok(Message::Text(t)) => {
                if let Some(seen) = seen_us(t.as_str()) {
                    let lag = sys::now_unix_us().saturating_sub(seen);
                    let w = window.load(Ordering::Relaxed).min(1);
                    let _ = hists[w].record(lag.max(1));
                }
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => bail!("live client: {e}"),
        }
    }
    Ok(hists)
}

#[derive(Serialize, Default)]
struct Replay {
    messages: u64,
    bytes: u64,
    seconds: f64,
    messages_per_sec: f64,
    mb_per_sec: f64,
}

/// Reads `/full-stream?since=…` until it has `expect` certificates.
fn replay_client(url: &str, expect: u64) -> Result<Replay> {
    let mut ws = connect(url)?;
    let started = Instant::now();
    let mut r = Replay::default();
    while r.messages < expect {
        if started.elapsed() > Duration::from_secs(900) {
            bail!(
                "replay of {expect} entries did not finish in 15 minutes ({} read)",
                r.messages
            );
        }
        match ws.read() {
            Ok(Message::Text(t)) => {
                r.bytes += t.len() as u64;
                if t.as_str()
                    .starts_with("{\"message_type\":\"certificate_update\"")
                {
                    r.messages += 1;
                }
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => bail!("replay client: {e}"),
        }
    }
    r.seconds = started.elapsed().as_secs_f64();
    r.messages_per_sec = r.messages as f64 / r.seconds;
    r.mb_per_sec = r.bytes as f64 / r.seconds / 1e6;
    Ok(r)
}

#[derive(Serialize, Default)]
struct Latency {
    samples: u64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

fn latency(hists: &[Histogram<u64>]) -> Result<Latency> {
    let mut all = Histogram::<u64>::new(3)?;
    for h in hists {
        all.add(h)?;
    }
    Ok(Latency {
        samples: all.len(),
        p50_ms: all.value_at_quantile(0.5) as f64 / 1e3,
        p99_ms: all.value_at_quantile(0.99) as f64 / 1e3,
        max_ms: all.max() as f64 / 1e3,
    })
}

#[derive(Serialize)]
struct Results {
    machine: sys::Machine,
    commit: String,
    command: String,
    backlog_entries: u64,
    store_bytes: u64,
    store_bytes_per_entry: f64,
    ingest_with_store: Ingest,
    ingest_without_store: Ingest,
    store_write_cpu_us_per_entry: f64,
    replay: Replay,
    live_clients: usize,
    live_rate: f64,
    live_baseline: Latency,
    live_during_replay: Latency,
    rss_mb_with_store_after: f64,
}

fn sim_for(args: &Args) -> Result<SimHandle> {
    Ok(sim::start(SimConfig {
        rfc6962_logs: 2,
        static_logs: 1,
        rate_per_sec: args.live_rate,
        initial_entries: args.backlog / 3,
        seed: 14,
        ..SimConfig::default()
    })?)
}

fn main() -> Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.out)?;
    let work = std::env::temp_dir().join(format!("replay-bench-{}", std::process::id()));
    let replay_dir = work.join("replay");
    std::fs::create_dir_all(&work)?;
    eprintln!("generating a backlog of {} entries", args.backlog);
    let sim = sim_for(&args)?;
    sim.pause_growth();
    let backlog = (0..3).map(|i| sim.tree_size(i)).sum::<u64>();
    let before_backlog = sys::now_unix_us();
    // One server at a time, so each has the machine to itself.
    let plain = start_server(
        &args.server,
        &sim.log_list_url,
        None,
        &args.out.join("server-plain.log"),
    )?;
    let ingest_without_store = ingest(&plain, backlog)?;
    drop(plain);
    eprintln!(
        "without the store: {:.1} µs CPU per entry",
        ingest_without_store.cpu_us_per_entry
    );
    let server = start_server(
        &args.server,
        &sim.log_list_url,
        Some(&replay_dir),
        &args.out.join("server-store.log"),
    )?;
    let ingest_with_store = ingest(&server, backlog)?;
    eprintln!(
        "with the store: {:.1} µs CPU per entry",
        ingest_with_store.cpu_us_per_entry
    );
    std::thread::sleep(Duration::from_secs(1));
    let store_bytes = dir_bytes(&replay_dir);
    sim.resume_growth();
    let window = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let live: Vec<_> = (0..args.live_clients)
        .map(|_| {
            let (url, w, s) = (
                format!("ws://{}/", server.addr),
                window.clone(),
                stop.clone(),
            );
            std::thread::spawn(move || live_client(url, w, s))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(args.window_secs));
    window.store(1, Ordering::Relaxed);
    let since = format!(
        "ws://{}/full-stream?since={}",
        server.addr,
        rfc3339(before_backlog)
    );
    let replay = replay_client(&since, backlog)?;
    eprintln!(
        "replayed {} entries at {:.0}/s",
        replay.messages, replay.messages_per_sec
    );
    stop.store(true, Ordering::Relaxed);
    let mut baseline = Vec::new();
    let mut during = Vec::new();
    for handle in live {
        let [a, b] = handle
            .join()
            .map_err(|_| anyhow::anyhow!("live client panicked"))??;
        baseline.push(a);
        during.push(b);
    }
    let results = Results {
        machine: sys::machine(),
        commit: git_commit(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        backlog_entries: backlog,
        store_bytes,
        store_bytes_per_entry: store_bytes as f64 / backlog as f64,
        store_write_cpu_us_per_entry: ingest_with_store.cpu_us_per_entry
            - ingest_without_store.cpu_us_per_entry,
        ingest_with_store,
        ingest_without_store,
        replay,
        live_clients: args.live_clients,
        live_rate: args.live_rate,
        live_baseline: latency(&baseline)?,
        live_during_replay: latency(&during)?,
        rss_mb_with_store_after: sys::proc_rss(server.child.id())
            .map_or(0.0, |r| r.rss_kib as f64 / 1024.0),
    };
    std::fs::write(
        args.out.join("results.json"),
        serde_json::to_string_pretty(&results)?,
    )?;
    std::fs::write(args.out.join("summary.md"), summary(&results))?;
    println!("{}", summary(&results));
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

fn git_commit() -> String {
    Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// µs since the epoch → RFC 3339 (UTC, whole seconds, rounded down).
fn rfc3339(us: u64) -> String {
    let secs = us / 1_000_000;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    format!("{}T{h:02}:{m:02}:{s:02}Z", sys::utc_date(secs))
}

fn summary(r: &Results) -> String {
    format!(
        "# replay-bench\n\n\
         - machine: {} ({} CPUs), commit `{}`\n\
         - command: `{}`\n\n\
         | figure | value |\n|---|---|\n\
         | backlog (entries, 3 logs) | {} |\n\
         | store on disk | {:.1} MB, {:.0} bytes/entry |\n\
         | backfill CPU without store | {:.1} µs/entry ({:.1} s for the backlog, RSS {:.0} MB) |\n\
         | backfill CPU with store | {:.1} µs/entry ({:.1} s, RSS {:.0} MB) |\n\
         | store write cost | {:.1} µs CPU/entry |\n\
         | replay of the backlog to one `/full-stream` client | {:.0} msgs/s, {:.1} MB/s ({:.1} s) |\n\
         | live lite clients, {} at {} entries/s: p50 / p99 / max before the replay | {:.1} / {:.1} / {:.1} ms ({} samples) |\n\
         | the same clients during the replay | {:.1} / {:.1} / {:.1} ms ({} samples) |\n\
         | server RSS after, store on | {:.0} MB |\n",
        r.machine.cpu_model, r.machine.cores, r.commit, r.command,
        r.backlog_entries,
        r.store_bytes as f64 / 1e6, r.store_bytes_per_entry,
        r.ingest_without_store.cpu_us_per_entry, r.ingest_without_store.seconds, r.ingest_without_store.rss_mb,
        r.ingest_with_store.cpu_us_per_entry, r.ingest_with_store.seconds, r.ingest_with_store.rss_mb,
        r.store_write_cpu_us_per_entry,
        r.replay.messages_per_sec, r.replay.mb_per_sec, r.replay.seconds,
        r.live_clients, r.live_rate,
        r.live_baseline.p50_ms, r.live_baseline.p99_ms, r.live_baseline.max_ms, r.live_baseline.samples,
        r.live_during_replay.p50_ms, r.live_during_replay.p99_ms, r.live_during_replay.max_ms, r.live_during_replay.samples,
        r.rss_mb_with_store_after,
    )
}
