//! `bench-run`: runs benchmark.md's six workloads against one or more servers and writes
//! `bench-results/<date>-<commit>/{results.json,summary.md}` (see `loadtest::bench::run`).
//!
//! ```text
//! bench-run --server 'certstream=target/release/certstream --log-list {log_list_url} --listen 127.0.0.1:{port}'
//! bench-run --quick --server 'certstream=…'            # seconds-long smoke run
//! bench-run --workloads raw-fanout --clients 500       # only the machine's baseline
//! ```

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use loadtest::bench::run::{self, BenchPlan, BinPaths, ServerSpec, Workload};

#[derive(Parser, Debug)]
#[command(about = "Run the certstream benchmark workloads (benchmark.md)")]
struct Args {
    /// Server under test as NAME=COMMAND (repeatable). COMMAND may use {log_list_url},
    /// {http_base} and {port}, and with --tls {tls_cert} and {tls_key}.
    #[arg(long)]
    server: Vec<String>,
    /// WebSocket base URL template of the servers [default: ws://127.0.0.1:{port}, with
    /// --tls wss://127.0.0.1:{port}].
    #[arg(long)]
    ws_url: Option<String>,
    /// Clients connect over TLS (wss://): a throwaway CA and a certificate for 127.0.0.1 are
    /// made for the run and handed to the server through {tls_cert} and {tls_key}. The
    /// raw-fanout baseline stays plain TCP.
    #[arg(long)]
    tls: bool,
    /// Seconds-long smoke run with few clients.
    #[arg(long)]
    quick: bool,
    /// Workloads to run (comma-separated): steady,saturation,full,slow,raw-fanout,ingest.
    #[arg(long, value_delimiter = ',')]
    workloads: Vec<String>,
    /// Clients of steady, saturation, slow and raw-fanout.
    #[arg(long)]
    clients: Option<usize>,
    /// Ingest rate of steady, full and slow (entries/s over all logs).
    #[arg(long)]
    rate: Option<u64>,
    /// Warm-up before each measured window, s.
    #[arg(long)]
    warmup: Option<f64>,
    /// Measured window of steady, full and slow, s.
    #[arg(long)]
    duration: Option<f64>,
    /// Saturation rates to try in order (comma-separated).
    #[arg(long, value_delimiter = ',')]
    sat_rates: Vec<u64>,
    /// Measured window of each saturation step, s.
    #[arg(long)]
    sat_duration: Option<f64>,
    /// Measured window of raw-fanout, s.
    #[arg(long)]
    fanout_duration: Option<f64>,
    /// wsbench worker threads.
    #[arg(long)]
    ws_threads: Option<usize>,
    /// raw-fanout worker threads.
    #[arg(long)]
    fanout_threads: Option<usize>,
    /// ctlog-sim binary (default: beside this executable).
    #[arg(long)]
    sim_bin: Option<PathBuf>,
    /// raw-fanout binary (default: beside this executable).
    #[arg(long)]
    raw_fanout_bin: Option<PathBuf>,
    /// ingest-bench binary (default: beside this executable, when present).
    #[arg(long)]
    ingest_bin: Option<PathBuf>,
    /// Results root.
    #[arg(long, default_value = "bench-results")]
    out: PathBuf,
    /// Fault schedule (TOML) every simulator runs with (`ctlog-sim --faults`), e.g.
    /// `loadtest/faults/soak.toml`. A schedule that hides logs from the list needs a server
    /// that reloads it (certstream: `--log-list-refresh-secs`).
    #[arg(long, value_name = "FILE")]
    sim_faults: Option<PathBuf>,
    /// Run nothing: draw the charts (throughput.svg, latency.svg) of an earlier run's
    /// results.json beside it, and exit.
    #[arg(long, value_name = "RESULTS_JSON")]
    charts_from: Option<PathBuf>,
}

fn secs(v: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(v).context("durations must be non-negative seconds")
}

fn parse_workload(s: &str) -> anyhow::Result<Workload> {
    Ok(match s.trim() {
        "steady" | "steady-500" => Workload::Steady,
        "saturation" | "saturation-500" => Workload::Saturation,
        "full" | "full-100" => Workload::Full,
        "slow" | "slow-10" => Workload::Slow,
        "raw-fanout" => Workload::RawFanout,
        "ingest" => Workload::Ingest,
        other => bail!("unknown workload {other:?}"),
    })
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    if let Some(results) = &a.charts_from {
        for file in run::draw_charts_from_file(results)? {
            eprintln!("wrote {}", file.display());
        }
        return Ok(());
    }
    let servers = a
        .server
        .iter()
        .map(|s| {
            let (name, cmd) = s.split_once('=').context("--server expects NAME=COMMAND")?;
            Ok(ServerSpec {
                name: name.trim().into(),
                cmd: cmd.trim().into(),
                ws_url: a.ws_url.clone().unwrap_or_else(|| {
                    let scheme = if a.tls { "wss" } else { "ws" };
                    format!("{scheme}://127.0.0.1:{{port}}")
                }),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut bins = BinPaths::beside_current_exe()?;
    if let Some(p) = a.sim_bin {
        bins.sim = p;
    }
    if let Some(p) = a.raw_fanout_bin {
        bins.raw_fanout = p;
    }
    if let Some(p) = a.ingest_bin {
        bins.ingest_bench = Some(p);
    }
    let mut plan = if a.quick {
        BenchPlan::quick(servers, bins, &a.out)
    } else {
        BenchPlan::standard(servers, bins, &a.out)
    };
    if !a.workloads.is_empty() {
        plan.workloads = a
            .workloads
            .iter()
            .map(|w| parse_workload(w))
            .collect::<anyhow::Result<_>>()?;
    }
    if plan.servers.is_empty()
        && plan
            .workloads
            .iter()
            .any(|w| !matches!(w, Workload::RawFanout | Workload::Ingest))
    {
        eprintln!("no --server given: running only raw-fanout and ingest");
        plan.workloads
            .retain(|w| matches!(w, Workload::RawFanout | Workload::Ingest));
    }
    plan.clients = a.clients.unwrap_or(plan.clients);
    plan.rate = a.rate.unwrap_or(plan.rate);
    plan.ws_threads = a.ws_threads.unwrap_or(plan.ws_threads);
    plan.fanout_threads = a.fanout_threads.unwrap_or(plan.fanout_threads);
    if let Some(v) = a.warmup {
        plan.warmup = secs(v)?;
    }
    if let Some(v) = a.duration {
        plan.duration = secs(v)?;
    }
    if let Some(v) = a.sat_duration {
        plan.sat_duration = secs(v)?;
    }
    if let Some(v) = a.fanout_duration {
        plan.fanout_duration = secs(v)?;
    }
    if !a.sat_rates.is_empty() {
        plan.sat_rates = a.sat_rates;
    }
    if let Some(path) = a.sim_faults {
        // Fail now, not after the first workload started a simulator.
        loadtest::sim::FaultSchedule::load(&path).map_err(anyhow::Error::msg)?;
        plan.sim_faults = Some(std::fs::canonicalize(&path)?);
    }
    if a.tls {
        let dir = std::env::temp_dir().join(format!("bench-run-tls-{}", std::process::id()));
        plan.tls = Some(run::TlsFiles::generate(&dir)?);
    }
    let res = run::run(&plan);
    if let Some(tls) = &plan.tls {
        if let Some(dir) = tls.ca.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    let res = res?;
    println!("{}", run::summary_md(&res));
    eprintln!("results in {}", res.out_dir.display());
    Ok(())
}
