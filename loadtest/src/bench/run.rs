//! bench-run: the six workloads of benchmark.md in one command, written to
//! `bench-results/<YYYY-MM-DD>-<short commit>/{results.json,summary.md}`.
//!
//! # Layout
//!
//! - [`BenchPlan`] says what to run; [`run`] runs it and [`run_quick`] runs a seconds-long
//!   smoke version of it.
//! - Each server workload ([`server_workload`]) starts a fresh `ctlog-sim` at the workload's
//!   rate, a fresh server under test from the user's command template, a 1 Hz resource
//!   sampler on the server's PID, and a [`wsbench`] run with a gap check against the
//!   simulator. Fresh processes per workload make every RSS and CPU figure its own.
//! - [`BenchPlan::sim_faults`] (`bench-run --sim-faults FILE`) runs every simulator with a
//!   fault schedule (`ctlog-sim --faults`, format in [`crate::sim::faults`]); the gap check then
//!   expects the entries the schedule corrupts to be skipped, and every other one delivered.
//! - raw-fanout runs the baseline sender as a child and the same clients against it, in the
//!   same run, so every server figure can be given as a fraction of it.
//!
//! # Invariants
//!
//! - Every child is wrapped in a [`ChildGuard`] that kills and reaps it on drop, and is spawned
//!   with `PR_SET_PDEATHSIG` so it dies with bench-run even on a crash.
//! - Only 127.0.0.1 is used; every wait is bounded ([`CHILD_READY_TIMEOUT`], the run bounds of
//!   [`wsbench`], [`SATURATION_STEPS_MAX`]).

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use super::limits::{
    CHILD_READY_TIMEOUT, READY_LINE_BYTES_MAX, RESOURCE_SAMPLES_MAX, SATURATION_P99_MS_MAX,
    SATURATION_STEPS_MAX,
};
use super::sys::{self, Machine, Rss};
use super::wsbench::{self, GapCheckConfig, Phase, WsBenchConfig, WsBenchReport};

/// A server under test.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerSpec {
    /// Label in the results.
    pub name: String,
    /// Command template; `{log_list_url}`, `{http_base}` and `{port}` are substituted. Run with
    /// `sh -c 'exec …'` so quoting works and the PID is the server's.
    pub cmd: String,
    /// WebSocket base URL template, e.g. `ws://127.0.0.1:{port}`.
    pub ws_url: String,
}

/// Where the helper binaries are.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BinPaths {
    /// `ctlog-sim`.
    pub sim: PathBuf,
    /// `raw-fanout`.
    pub raw_fanout: PathBuf,
    /// `ingest-bench`, when it exists.
    pub ingest_bench: Option<PathBuf>,
}

impl BinPaths {
    /// The binaries next to the running executable (target/release when run from there).
    pub fn beside_current_exe() -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("locating the current executable")?;
        let dir = exe
            .parent()
            .context("executable has no directory")?
            .to_path_buf();
        // Integration tests run from target/<profile>/deps; the binaries are one level up.
        let dir = if dir.ends_with("deps") {
            dir.parent().map(Path::to_path_buf).unwrap_or(dir)
        } else {
            dir
        };
        let ingest = dir.join("ingest-bench");
        Ok(BinPaths {
            sim: dir.join("ctlog-sim"),
            raw_fanout: dir.join("raw-fanout"),
            ingest_bench: ingest.exists().then_some(ingest),
        })
    }
}

/// The workloads of benchmark.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// 500 clients on `/` at R = 1,000/s.
    Steady,
    /// The same clients, R stepped up until loss or p99 > 100 ms.
    Saturation,
    /// 100 clients on `/full-stream`.
    Full,
    /// steady with 10 clients that never read.
    Slow,
    /// The trivial sender, same clients.
    RawFanout,
    /// Parse + serialize throughput from real DER, no clients.
    Ingest,
}

impl Workload {
    /// All six, in benchmark.md order.
    pub const ALL: [Workload; 6] = [
        Workload::Steady,
        Workload::Saturation,
        Workload::Full,
        Workload::Slow,
        Workload::RawFanout,
        Workload::Ingest,
    ];
}

/// What to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchPlan {
    /// Servers measured on the same workloads.
    pub servers: Vec<ServerSpec>,
    /// Helper binaries.
    pub bins: BinPaths,
    /// Workloads to run.
    pub workloads: Vec<Workload>,
    /// Clients of steady, saturation, slow and raw-fanout.
    pub clients: usize,
    /// Clients of full.
    pub full_clients: usize,
    /// Never-reading clients of slow.
    pub slow_clients: usize,
    /// Ingest rate R of steady, full and slow.
    pub rate: u64,
    /// RFC 6962 logs of the simulator.
    pub rfc6962_logs: usize,
    /// Static CT logs of the simulator.
    pub static_logs: usize,
    /// Warm-up before each measured window.
    pub warmup: Duration,
    /// Measured window of steady, full, slow.
    pub duration: Duration,
    /// Saturation rates, tried in order until one fails.
    pub sat_rates: Vec<u64>,
    /// Warm-up of each saturation step.
    pub sat_warmup: Duration,
    /// Measured window of each saturation step.
    pub sat_duration: Duration,
    /// Measured window of raw-fanout.
    pub fanout_duration: Duration,
    /// wsbench worker threads.
    pub ws_threads: usize,
    /// raw-fanout worker threads.
    pub fanout_threads: usize,
    /// Idle time between server start and the first client (idle RSS is taken at its end).
    pub idle_settle: Duration,
    /// Longest wait for clients to reach the simulator's final tree sizes.
    pub drain_timeout: Duration,
    /// Fault schedule passed to every simulator (`ctlog-sim --faults`); the gap check then
    /// expects the corrupted entries to be skipped.
    pub sim_faults: Option<PathBuf>,
    /// Serve the clients over TLS: the server gets this certificate and key (through the
    /// `{tls_cert}` and `{tls_key}` placeholders) and the clients trust only its CA.
    pub tls: Option<TlsFiles>,
    /// `bench-results` directory.
    pub out_root: PathBuf,
    /// Directory `git rev-parse` runs in.
    pub repo_dir: PathBuf,
}

/// A throwaway CA and a server certificate it signed for 127.0.0.1, as PEM files (in a temp
/// directory: private keys never go into bench-results).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// Generates the CA and the certificate and writes them under `dir`.
    pub fn generate(dir: &Path) -> anyhow::Result<Self> {
        let material = crate::sim::tls::TlsMaterial::generate()?;
        std::fs::create_dir_all(dir)?;
        let files = TlsFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.crt"),
            key: dir.join("server.key"),
        };
        std::fs::write(&files.ca, &material.ca_pem)?;
        std::fs::write(&files.cert, material.cert_pem())?;
        std::fs::write(&files.key, material.key_pem())?;
        Ok(files)
    }
}

impl BenchPlan {
    /// benchmark.md's defaults.
    pub fn standard(servers: Vec<ServerSpec>, bins: BinPaths, out_root: &Path) -> Self {
        BenchPlan {
            servers,
            bins,
            workloads: Workload::ALL.to_vec(),
            clients: 500,
            full_clients: 100,
            slow_clients: 10,
            rate: 1000,
            rfc6962_logs: 12,
            static_logs: 4,
            warmup: Duration::from_secs(10),
            duration: Duration::from_secs(60),
            sat_rates: vec![1000, 2000, 3000, 4000, 6000, 8000, 12000, 16000],
            sat_warmup: Duration::from_secs(5),
            sat_duration: Duration::from_secs(20),
            fanout_duration: Duration::from_secs(20),
            ws_threads: 2,
            fanout_threads: 2,
            idle_settle: Duration::from_secs(3),
            drain_timeout: Duration::from_secs(20),
            sim_faults: None,
            tls: None,
            out_root: out_root.to_path_buf(),
            repo_dir: PathBuf::from("."),
        }
    }

    /// A seconds-long version for smoke tests: few clients, short windows, two saturation steps.
    pub fn quick(servers: Vec<ServerSpec>, bins: BinPaths, out_root: &Path) -> Self {
        BenchPlan {
            clients: 20,
            full_clients: 5,
            slow_clients: 2,
            rate: 200,
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(3),
            sat_rates: vec![200, 400],
            sat_warmup: Duration::from_secs(1),
            sat_duration: Duration::from_secs(2),
            fanout_duration: Duration::from_secs(3),
            idle_settle: Duration::from_secs(1),
            drain_timeout: Duration::from_secs(10),
            ..Self::standard(servers, bins, out_root)
        }
    }
}

/// One resource sample of the server process.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Sample {
    /// Seconds since the server started.
    pub t_s: f64,
    /// Resident memory.
    pub rss: Rss,
    /// Cumulative CPU (utime + stime), s.
    pub cpu_s: f64,
}

/// One server workload's figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkloadResult {
    /// Workload name (`steady-500`, `saturation-500@4000`, …).
    pub name: String,
    /// Server label.
    pub server: String,
    /// Requested ingest rate.
    pub rate: u64,
    /// Rate the simulator actually produced in the window (from tree sizes).
    pub rate_actual: Option<f64>,
    /// Client figures.
    pub ws: WsBenchReport,
    /// Server CPU over the window, percent of one core.
    pub server_cpu_pct: Option<f64>,
    /// VmRSS before clients connected, KiB.
    pub rss_idle_kib: Option<u64>,
    /// Median VmRSS in the window, KiB.
    pub rss_steady_kib: Option<u64>,
    /// VmHWM at the end, KiB.
    pub rss_peak_kib: Option<u64>,
    /// 1 Hz samples.
    pub samples: Vec<Sample>,
    /// Verdict per benchmark.md's rules.
    pub passed: bool,
    /// Why it failed.
    pub failures: Vec<String>,
    /// Exact commands.
    pub commands: Vec<String>,
}

/// The saturation search for one server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SaturationResult {
    /// Server label.
    pub server: String,
    /// Steps in order.
    pub steps: Vec<WorkloadResult>,
    /// Highest R that held.
    pub best_rate: Option<u64>,
    /// Its delivered rate.
    pub best_delivered_msgs_per_s: Option<f64>,
    /// Why the search stopped.
    pub stopped_because: String,
}

/// raw-fanout figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FanoutResult {
    /// Client figures (the delivered rate is the baseline).
    pub ws: WsBenchReport,
    /// Sender CPU over the window, percent of one core.
    pub sender_cpu_pct: Option<f64>,
    /// Exact commands.
    pub commands: Vec<String>,
}

/// ingest figures (or why there are none).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IngestResult {
    /// Whether `ingest-bench` was found.
    pub available: bool,
    /// Its JSON output when it printed JSON.
    pub output: Option<serde_json::Value>,
    /// Its text output otherwise.
    pub text: Option<String>,
    /// Exact command.
    pub command: Option<String>,
}

/// Delivered rates as fractions of raw-fanout's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ratio {
    /// Server label.
    pub server: String,
    /// Workload.
    pub workload: String,
    /// Server delivered msgs/s.
    pub delivered_msgs_per_s: f64,
    /// Divided by raw-fanout's.
    pub fraction_of_raw_fanout: f64,
}

/// Everything a run produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResults {
    /// The machine.
    pub machine: Machine,
    /// `git rev-parse HEAD`.
    pub commit: String,
    /// Uncommitted changes present.
    pub commit_dirty: bool,
    /// Unix start time.
    pub started_unix: u64,
    /// bench-run's own command line.
    pub invocation: Vec<String>,
    /// The plan.
    pub plan: BenchPlan,
    /// steady, full, slow (per server).
    pub workloads: Vec<WorkloadResult>,
    /// saturation (per server).
    pub saturation: Vec<SaturationResult>,
    /// raw-fanout.
    pub raw_fanout: Option<FanoutResult>,
    /// raw-fanout at steady-500's rate and burst shape: this machine's latency floor for it.
    pub raw_steady: Option<FanoutResult>,
    /// ingest.
    pub ingest: Option<IngestResult>,
    /// Ratios vs raw-fanout.
    pub ratios: Vec<Ratio>,
    /// Where the files went.
    pub out_dir: PathBuf,
    /// Errors that ended a workload early.
    pub errors: Vec<String>,
}

/// Runs `plan`, writes results.json and summary.md, and returns the results.
pub fn run(plan: &BenchPlan) -> anyhow::Result<RunResults> {
    let started_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (commit, commit_dirty) = git_commit(&plan.repo_dir);
    let short: String = commit.chars().take(10).collect();
    let out_dir = plan
        .out_root
        .join(format!("{}-{}", sys::utc_date(started_unix), short));
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let mut res = RunResults {
        machine: sys::machine(),
        commit,
        commit_dirty,
        started_unix,
        invocation: std::env::args().collect(),
        plan: plan.clone(),
        workloads: Vec::new(),
        saturation: Vec::new(),
        raw_fanout: None,
        raw_steady: None,
        ingest: None,
        ratios: Vec::new(),
        out_dir: out_dir.clone(),
        errors: Vec::new(),
    };
    let has = |w: Workload| plan.workloads.contains(&w);
    if has(Workload::RawFanout) {
        match raw_fanout_workload(plan, &out_dir, FanoutShape::FullSpeed) {
            Ok(r) => res.raw_fanout = Some(r),
            Err(e) => res.errors.push(format!("raw-fanout: {e:#}")),
        }
        match raw_fanout_workload(plan, &out_dir, FanoutShape::Steady) {
            Ok(r) => res.raw_steady = Some(r),
            Err(e) => res.errors.push(format!("raw-fanout (steady shape): {e:#}")),
        }
    }
    for server in &plan.servers {
        run_server(plan, server, &out_dir, &mut res);
    }
    if has(Workload::Ingest) {
        res.ingest = Some(ingest_workload(plan));
    }
    res.ratios = ratios(&res);
    write_results(&res)?;
    Ok(res)
}

/// Runs the quick plan (few clients, seconds-long windows) against `servers`: the full-pipeline
/// smoke test. Results go to `out_root` like a normal run.
pub fn run_quick(
    bins: BinPaths,
    servers: Vec<ServerSpec>,
    out_root: &Path,
) -> anyhow::Result<RunResults> {
    run(&BenchPlan::quick(servers, bins, out_root))
}

fn run_server(plan: &BenchPlan, server: &ServerSpec, out_dir: &Path, res: &mut RunResults) {
    let has = |w: Workload| plan.workloads.contains(&w);
    let specs = [
        (
            Workload::Steady,
            format!("steady-{}", plan.clients),
            "/",
            plan.clients,
            0,
        ),
        (
            Workload::Full,
            format!("full-{}", plan.full_clients),
            "/full-stream",
            plan.full_clients,
            0,
        ),
        (
            Workload::Slow,
            format!("slow-{}", plan.slow_clients),
            "/",
            plan.clients,
            plan.slow_clients,
        ),
    ];
    for (w, name, path, clients, slow) in specs {
        if !has(w) {
            continue;
        }
        let spec = WlSpec {
            name,
            path,
            clients,
            slow,
            rate: plan.rate,
            warmup: plan.warmup,
            duration: plan.duration,
        };
        match server_workload(plan, server, &spec, out_dir) {
            Ok(r) => res.workloads.push(r),
            Err(e) => res
                .errors
                .push(format!("{} {}: {e:#}", server.name, spec.name)),
        }
    }
    if has(Workload::Saturation) {
        res.saturation
            .push(saturation(plan, server, out_dir, &mut res.errors));
    }
}

/// One server workload's shape.
struct WlSpec {
    name: String,
    path: &'static str,
    clients: usize,
    slow: usize,
    rate: u64,
    warmup: Duration,
    duration: Duration,
}

fn saturation(
    plan: &BenchPlan,
    server: &ServerSpec,
    out_dir: &Path,
    errors: &mut Vec<String>,
) -> SaturationResult {
    let mut out = SaturationResult {
        server: server.name.clone(),
        steps: Vec::new(),
        best_rate: None,
        best_delivered_msgs_per_s: None,
        stopped_because: "all rates held".into(),
    };
    for &rate in plan.sat_rates.iter().take(SATURATION_STEPS_MAX) {
        let spec = WlSpec {
            name: format!("saturation-{}@{rate}", plan.clients),
            path: "/",
            clients: plan.clients,
            slow: 0,
            rate,
            warmup: plan.sat_warmup,
            duration: plan.sat_duration,
        };
        let step = match server_workload(plan, server, &spec, out_dir) {
            Ok(s) => s,
            Err(e) => {
                errors.push(format!("{} {}: {e:#}", server.name, spec.name));
                out.stopped_because = format!("R={rate}: {e:#}");
                break;
            }
        };
        let held = step.passed;
        // Tree sizes are published once a second, so the measured rate is only trusted over
        // windows of 10 s or more (quick runs would otherwise stop at the first step).
        let sim_limited = plan.sat_duration >= Duration::from_secs(10)
            && step.rate_actual.is_some_and(|a| a < rate as f64 * 0.8);
        if held {
            out.best_rate = Some(rate);
            out.best_delivered_msgs_per_s = Some(step.ws.delivered_msgs_per_s);
        }
        let reason = if !held {
            Some(format!("R={rate} failed: {}", step.failures.join("; ")))
        } else if sim_limited {
            Some(format!(
                "R={rate}: the simulator produced only {:.0}/s",
                step.rate_actual.unwrap_or(0.0)
            ))
        } else {
            None
        };
        out.steps.push(step);
        if let Some(r) = reason {
            out.stopped_because = r;
            break;
        }
    }
    out
}

// ---- children -------------------------------------------------------------------------------

/// Kills and reaps its child on drop.
pub struct ChildGuard {
    name: String,
    child: Child,
}

impl ChildGuard {
    /// The child's PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Error when the child has exited.
    fn check_alive(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait() {
            Ok(Some(st)) => bail!("{} exited early with {st}", self.name),
            Ok(None) => Ok(()),
            Err(e) => bail!("{}: {e}", self.name),
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `program args…` with stderr to `log`, dying with us.
fn spawn(name: &str, mut cmd: Command, log: &Path, stdout: Stdio) -> anyhow::Result<ChildGuard> {
    let err = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    cmd.stdin(Stdio::null()).stdout(stdout).stderr(err);
    // SAFETY: prctl is async-signal-safe and touches only this (child) process.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let child = cmd.spawn().with_context(|| format!("starting {name}"))?;
    Ok(ChildGuard {
        name: name.to_string(),
        child,
    })
}

/// Reads the child's first stdout line (bounded in bytes and time), then keeps draining
/// stdout into `log` so the child never blocks on a full pipe.
fn ready_line(g: &mut ChildGuard, log: PathBuf) -> anyhow::Result<String> {
    let out = g.child.stdout.take().context("child stdout not piped")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(out);
        let mut line = String::new();
        let got = (&mut r)
            .take(READY_LINE_BYTES_MAX as u64)
            .read_line(&mut line);
        let _ = tx.send(got.map(|_| line));
        if let Ok(mut f) = std::fs::File::create(log) {
            let _ = std::io::copy(&mut r, &mut f);
        }
    });
    match rx.recv_timeout(CHILD_READY_TIMEOUT) {
        Ok(Ok(l)) if !l.trim().is_empty() => Ok(l),
        Ok(Ok(_)) => {
            g.check_alive()?;
            bail!("{} closed stdout without a ready line", g.name)
        }
        Ok(Err(e)) => bail!("reading {} stdout: {e}", g.name),
        Err(_) => bail!(
            "{} printed no ready line in {CHILD_READY_TIMEOUT:?}",
            g.name
        ),
    }
}

/// The simulator's ready line.
#[derive(Debug, Clone, serde::Deserialize)]
struct SimReady {
    http_base: String,
    log_list_url: String,
}

struct Sim {
    guard: ChildGuard,
    ready: SimReady,
    command: String,
}

fn start_sim(plan: &BenchPlan, rate: u64, dir: &Path, tag: &str) -> anyhow::Result<Sim> {
    let mix = match (plan.rfc6962_logs > 0, plan.static_logs > 0) {
        (true, true) => "both",
        (true, false) => "rfc6962",
        (false, true) => "static",
        (false, false) => bail!("the simulator needs at least one log"),
    };
    let mut args = vec![
        "--rfc6962".to_string(),
        plan.rfc6962_logs.to_string(),
        "--static".into(),
        plan.static_logs.to_string(),
        "--rate".into(),
        rate.to_string(),
        "--mix".into(),
        mix.into(),
    ];
    if let Some(faults) = &plan.sim_faults {
        args.push("--faults".into());
        args.push(faults.display().to_string());
    }
    let command = format!("{} {}", plan.bins.sim.display(), args.join(" "));
    let mut cmd = Command::new(&plan.bins.sim);
    cmd.args(&args);
    let mut guard = spawn(
        "ctlog-sim",
        cmd,
        &dir.join(format!("{tag}.sim.stderr.log")),
        Stdio::piped(),
    )?;
    let line = ready_line(&mut guard, dir.join(format!("{tag}.sim.stdout.log")))?;
    let ready: SimReady =
        serde_json::from_str(line.trim()).with_context(|| format!("sim ready line {line:?}"))?;
    if !ready.http_base.starts_with("http://127.0.0.1") {
        bail!("the simulator is not on 127.0.0.1: {}", ready.http_base);
    }
    Ok(Sim {
        guard,
        ready,
        command,
    })
}

/// A free loopback port (bound then released; a small race we accept on a private machine).
fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

fn fill(template: &str, sim: &SimReady, port: u16, tls: Option<&TlsFiles>) -> String {
    let mut out = template
        .replace("{log_list_url}", &sim.log_list_url)
        .replace("{http_base}", &sim.http_base)
        .replace("{port}", &port.to_string());
    if let Some(tls) = tls {
        out = out
            .replace("{tls_cert}", &tls.cert.display().to_string())
            .replace("{tls_key}", &tls.key.display().to_string());
    }
    out
}

struct Server {
    guard: ChildGuard,
    ws_base: String,
    command: String,
}

fn start_server(
    spec: &ServerSpec,
    sim: &SimReady,
    tls: Option<&TlsFiles>,
    dir: &Path,
    tag: &str,
) -> anyhow::Result<Server> {
    let port = free_port()?;
    let command = fill(&spec.cmd, sim, port, tls);
    let ws_base = fill(&spec.ws_url, sim, port, tls);
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    if !ws_base.starts_with(&format!("{scheme}://127.0.0.1")) {
        bail!("benchmarks run on {scheme}://127.0.0.1 only, not {ws_base}");
    }
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!("exec {command}"));
    let log = dir.join(format!("{tag}.server.log"));
    let stdout = std::fs::File::create(dir.join(format!("{tag}.server.stdout.log")))?;
    let mut guard = spawn(&spec.name, cmd, &log, Stdio::from(stdout))?;
    let t0 = Instant::now();
    loop {
        guard
            .check_alive()
            .with_context(|| format!("see {}", log.display()))?;
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        if t0.elapsed() > CHILD_READY_TIMEOUT {
            bail!(
                "{} did not listen on 127.0.0.1:{port} within {CHILD_READY_TIMEOUT:?}",
                spec.name
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Server {
        guard,
        ws_base: ws_base.trim_end_matches('/').to_string(),
        command,
    })
}

/// Samples a PID's RSS and CPU at 1 Hz until dropped.
struct Sampler {
    started: Instant,
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(pid: u32) -> Self {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (samples.clone(), stop.clone());
        let started = Instant::now();
        let handle = std::thread::spawn(move || {
            let t0 = started;
            let mut n = 0;
            while !st.load(Ordering::Relaxed) && n < RESOURCE_SAMPLES_MAX {
                if let (Some(rss), Some(cpu)) = (sys::proc_rss(pid), sys::proc_cpu(pid)) {
                    let sample = Sample {
                        t_s: t0.elapsed().as_secs_f64(),
                        rss,
                        cpu_s: cpu.as_secs_f64(),
                    };
                    if let Ok(mut v) = s.lock() {
                        v.push(sample);
                    }
                }
                n += 1;
                // Sleep in short steps so stopping is prompt.
                for _ in 0..10 {
                    if st.load(Ordering::Relaxed) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        });
        Sampler {
            started,
            samples,
            stop,
            handle: Some(handle),
        }
    }

    fn finish(mut self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.samples.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Where a certstream-compatible server may report skipped entries (`/health/deep`); a server
/// without one only makes the gap check note the report as unavailable.
fn health_url(ws_base: &str) -> String {
    let base = ws_base
        .trim_end_matches('/')
        .replacen("wss://", "https://", 1)
        .replacen("ws://", "http://", 1);
    format!("{base}/health/deep")
}

/// Sum of the simulator's tree sizes.
fn sim_total(state_url: &str) -> Option<u64> {
    wsbench::fetch_targets(state_url)
        .ok()
        .map(|t| t.iter().map(|t| t.size).sum())
}

/// What the phase hook observed.
#[derive(Default)]
struct WindowMarks {
    t: Vec<(Phase, Instant, Option<Duration>, Option<u64>)>,
}

impl WindowMarks {
    fn at(&self, p: Phase) -> Option<&(Phase, Instant, Option<Duration>, Option<u64>)> {
        self.t.iter().find(|m| m.0 == p)
    }
}

fn server_workload(
    plan: &BenchPlan,
    server: &ServerSpec,
    wl: &WlSpec,
    out_dir: &Path,
) -> anyhow::Result<WorkloadResult> {
    let tag = format!("{}-{}", sanitize(&server.name), sanitize(&wl.name));
    let sim = start_sim(plan, wl.rate, out_dir, &tag)?;
    let mut srv = start_server(server, &sim.ready, plan.tls.as_ref(), out_dir, &tag)?;
    let pid = srv.guard.pid();
    let sampler = Sampler::start(pid);
    let sampler_t0 = sampler.started;
    std::thread::sleep(plan.idle_settle);
    srv.guard.check_alive()?;
    let rss_idle = sys::proc_rss(pid).map(|r| r.rss_kib);
    let state_url = format!("{}/sim/state", sim.ready.http_base.trim_end_matches('/'));
    let mut cfg = WsBenchConfig::new(&format!("{}{}", srv.ws_base, wl.path), wl.clients);
    cfg.slow = wl.slow;
    cfg.warmup = wl.warmup;
    cfg.duration = wl.duration;
    cfg.threads = plan.ws_threads;
    cfg.ca_file = plan.tls.as_ref().map(|t| t.ca.clone());
    let mut gap = GapCheckConfig::new(&state_url);
    gap.drain_timeout = plan.drain_timeout;
    gap.server_report_url = Some(health_url(&srv.ws_base));
    cfg.gap = Some(gap);
    let mut marks = WindowMarks::default();
    let ws = wsbench::run(&cfg, &mut |p| {
        if matches!(p, Phase::Measuring | Phase::Draining) {
            marks
                .t
                .push((p, Instant::now(), sys::proc_cpu(pid), sim_total(&state_url)));
        }
    });
    let rss_end = sys::proc_rss(pid);
    let alive = srv.guard.check_alive();
    let samples = sampler.finish();
    drop(srv.guard);
    drop(sim.guard);
    let ws = ws?;
    let mut r = WorkloadResult {
        name: wl.name.clone(),
        server: server.name.clone(),
        rate: wl.rate,
        rate_actual: None,
        server_cpu_pct: None,
        rss_idle_kib: rss_idle,
        rss_steady_kib: None,
        rss_peak_kib: rss_end.map(|r| r.hwm_kib),
        samples,
        passed: false,
        failures: Vec::new(),
        commands: vec![sim.command, srv.command, wsbench_command(&cfg)],
        ws,
    };
    window_figures(&mut r, &marks, sampler_t0);
    judge(&mut r, alive.err().map(|e| e.to_string()));
    Ok(r)
}

/// CPU, actual rate and steady RSS from the window marks.
fn window_figures(r: &mut WorkloadResult, marks: &WindowMarks, sampler_t0: Instant) {
    let (Some(a), Some(b)) = (marks.at(Phase::Measuring), marks.at(Phase::Draining)) else {
        return;
    };
    let secs = b.1.duration_since(a.1).as_secs_f64().max(1e-9);
    if let (Some(c0), Some(c1)) = (a.2, b.2) {
        r.server_cpu_pct = Some(c1.saturating_sub(c0).as_secs_f64() / secs * 100.0);
    }
    if let (Some(t0), Some(t1)) = (a.3, b.3) {
        r.rate_actual = Some(t1.saturating_sub(t0) as f64 / secs);
    }
    // Samples are timed from the sampler start; keep those taken inside the window.
    let w0 = a.1.saturating_duration_since(sampler_t0).as_secs_f64();
    let w1 = b.1.saturating_duration_since(sampler_t0).as_secs_f64();
    let mut rss: Vec<u64> = r
        .samples
        .iter()
        .filter(|s| s.t_s >= w0 && s.t_s <= w1)
        .map(|s| s.rss.rss_kib)
        .collect();
    rss.sort_unstable();
    r.rss_steady_kib = rss.get(rss.len() / 2).copied();
}

/// benchmark.md's pass rules.
fn judge(r: &mut WorkloadResult, died: Option<String>) {
    let ws = &r.ws;
    let mut f = Vec::new();
    if let Some(d) = died {
        f.push(format!("server died: {d}"));
    }
    if ws.connected + ws.connect_failed < ws.clients || ws.connect_failed > 0 {
        f.push(format!(
            "{} of {} clients failed to connect",
            ws.clients - ws.connected,
            ws.clients
        ));
    }
    if ws.loss.clients_with_loss > 0 {
        f.push(format!(
            "{} reading clients lost {} messages",
            ws.loss.clients_with_loss, ws.loss.missing_total
        ));
    }
    if ws.loss.clients_disconnected > 0 {
        f.push(format!(
            "{} reading clients were disconnected",
            ws.loss.clients_disconnected
        ));
    }
    if ws.loss.repeated_total + ws.loss.out_of_order_total > 0 {
        f.push(format!(
            "{} repeated and {} out-of-order messages",
            ws.loss.repeated_total, ws.loss.out_of_order_total
        ));
    }
    if let Some(g) = &ws.gap_check {
        if !g.complete {
            let missing: u64 = g.logs.iter().map(|l| l.missing).sum();
            let never: usize = g.logs.iter().map(|l| l.clients_never_seen).sum();
            let corrupt: u64 = g.logs.iter().map(|l| l.delivered_but_skip_expected).sum();
            let unreported: usize = g
                .logs
                .iter()
                .filter_map(|l| l.server.as_ref())
                .map(|s| s.unreported.len() + s.unexpected.len())
                .sum();
            f.push(format!(
                "gap check incomplete: {missing} indexes missing, \
                 {never} client×log pairs never received, {corrupt} corrupted entries \
                 delivered, {unreported} skips misreported by the server"
            ));
        }
    }
    if ws.delivered_msgs == 0 {
        f.push("no messages delivered".into());
    }
    if r.name.starts_with("saturation") && ws.latency_ms.p99 > SATURATION_P99_MS_MAX {
        f.push(format!(
            "p99 {:.1} ms > {SATURATION_P99_MS_MAX} ms",
            ws.latency_ms.p99
        ));
    }
    r.passed = f.is_empty();
    r.failures = f;
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The wsbench command line equivalent to a library run.
fn wsbench_command(cfg: &WsBenchConfig) -> String {
    let mut s = format!(
        "wsbench --url {} --clients {} --slow {} --warmup {} --duration {} --threads {} --connect-concurrency {}",
        cfg.url,
        cfg.clients,
        cfg.slow,
        cfg.warmup.as_secs_f64(),
        cfg.duration.as_secs_f64(),
        cfg.threads,
        cfg.connect_concurrency
    );
    if let Some(ca) = &cfg.ca_file {
        s.push_str(&format!(" --ca-file {}", ca.display()));
    }
    if let Some(g) = &cfg.gap {
        s.push_str(&format!(
            " --sim-state {} --drain-timeout {}",
            g.state_url,
            g.drain_timeout.as_secs_f64()
        ));
    }
    s
}

// ---- raw-fanout and ingest ------------------------------------------------------------------

/// How the trivial sender sends.
#[derive(Debug, Clone, Copy, PartialEq)]
enum FanoutShape {
    /// As fast as the slowest reader: the machine's throughput limit.
    FullSpeed,
    /// steady-500's input: R/s in bursts of R/logs frames every 1 s/logs, as when each of the
    /// simulator's logs moves its tree head once a second. Its latency is the floor any server
    /// can reach on steady-500 on this machine (the sender does no work but the writes).
    Steady,
}

fn raw_fanout_args(plan: &BenchPlan, shape: FanoutShape) -> Vec<String> {
    // The sender outlives the clients' whole run (connect, warm-up, window) with margin.
    let window = match shape {
        FanoutShape::FullSpeed => plan.fanout_duration,
        FanoutShape::Steady => plan.duration.min(plan.fanout_duration),
    };
    let serve_s = (plan.warmup + window).as_secs_f64() + 120.0;
    let mut args = vec![
        "--listen".to_string(),
        "127.0.0.1:0".into(),
        "--threads".into(),
        plan.fanout_threads.to_string(),
        "--duration".into(),
        format!("{serve_s}"),
    ];
    if shape == FanoutShape::Steady {
        let logs = (plan.rfc6962_logs + plan.static_logs).max(1);
        args.extend([
            "--rate".into(),
            plan.rate.to_string(),
            "--logs".into(),
            logs.to_string(),
            "--tick-ms".into(),
            format!("{}", 1000.0 / logs as f64),
        ]);
    }
    args
}

fn raw_fanout_workload(
    plan: &BenchPlan,
    out_dir: &Path,
    shape: FanoutShape,
) -> anyhow::Result<FanoutResult> {
    let args = raw_fanout_args(plan, shape);
    let tag = match shape {
        FanoutShape::FullSpeed => "raw-fanout",
        FanoutShape::Steady => "raw-fanout-steady",
    };
    let command = format!("{} {}", plan.bins.raw_fanout.display(), args.join(" "));
    let mut cmd = Command::new(&plan.bins.raw_fanout);
    cmd.args(&args);
    let mut g = spawn(
        "raw-fanout",
        cmd,
        &out_dir.join(format!("{tag}.stderr.log")),
        Stdio::piped(),
    )?;
    let line = ready_line(&mut g, out_dir.join(format!("{tag}.stdout.log")))?;
    let v: serde_json::Value =
        serde_json::from_str(line.trim()).context("raw-fanout ready line")?;
    let addr = v
        .get("listening")
        .and_then(|a| a.as_str())
        .context("raw-fanout ready line has no address")?;
    let mut cfg = WsBenchConfig::new(&format!("ws://{addr}/"), plan.clients);
    cfg.warmup = plan.warmup;
    cfg.duration = match shape {
        FanoutShape::FullSpeed => plan.fanout_duration,
        FanoutShape::Steady => plan.duration.min(plan.fanout_duration),
    };
    cfg.threads = plan.ws_threads;
    let pid = g.pid();
    let mut cpu: Vec<(Instant, Option<Duration>)> = Vec::new();
    let ws = wsbench::run(&cfg, &mut |p| {
        if matches!(p, Phase::Measuring | Phase::Draining) {
            cpu.push((Instant::now(), sys::proc_cpu(pid)));
        }
    })?;
    drop(g);
    let sender_cpu_pct = match cpu.as_slice() {
        [(t0, Some(c0)), (t1, Some(c1))] => Some(
            c1.saturating_sub(*c0).as_secs_f64() / t1.duration_since(*t0).as_secs_f64().max(1e-9)
                * 100.0,
        ),
        _ => None,
    };
    Ok(FanoutResult {
        commands: vec![command, wsbench_command(&cfg)],
        ws,
        sender_cpu_pct,
    })
}

fn ingest_workload(plan: &BenchPlan) -> IngestResult {
    let Some(bin) = &plan.bins.ingest_bench else {
        return IngestResult {
            available: false,
            output: None,
            text: None,
            command: None,
        };
    };
    let command = bin.display().to_string();
    let out = Command::new(bin).stdin(Stdio::null()).output();
    let text = match out {
        Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
        Err(e) => format!("failed to run: {e}"),
    };
    let json = text
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok());
    IngestResult {
        available: true,
        text: json
            .is_none()
            .then(|| text.chars().take(64 * 1024).collect()),
        output: json,
        command: Some(command),
    }
}

// ---- results --------------------------------------------------------------------------------

fn ratios(res: &RunResults) -> Vec<Ratio> {
    let Some(base) = res
        .raw_fanout
        .as_ref()
        .map(|f| f.ws.delivered_msgs_per_s)
        .filter(|b| *b > 0.0)
    else {
        return Vec::new();
    };
    let mut out: Vec<Ratio> = res
        .workloads
        .iter()
        .map(|w| Ratio {
            server: w.server.clone(),
            workload: w.name.clone(),
            delivered_msgs_per_s: w.ws.delivered_msgs_per_s,
            fraction_of_raw_fanout: w.ws.delivered_msgs_per_s / base,
        })
        .collect();
    for s in &res.saturation {
        if let (Some(r), Some(d)) = (s.best_rate, s.best_delivered_msgs_per_s) {
            out.push(Ratio {
                server: s.server.clone(),
                workload: format!("saturation@{r}"),
                delivered_msgs_per_s: d,
                fraction_of_raw_fanout: d / base,
            });
        }
    }
    out
}

fn git_commit(dir: &Path) -> (String, bool) {
    let run = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(dir)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = run(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty =
        run(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    (commit, dirty)
}

fn write_results(res: &RunResults) -> anyhow::Result<()> {
    let json = serde_json::to_string_pretty(res)?;
    std::fs::write(res.out_dir.join("results.json"), json)?;
    std::fs::write(res.out_dir.join("summary.md"), summary_md(res))?;
    Ok(())
}

fn mib(kib: Option<u64>) -> String {
    kib.map(|k| format!("{:.1}", k as f64 / 1024.0))
        .unwrap_or_else(|| "-".into())
}

fn opt1(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.1}")).unwrap_or_else(|| "-".into())
}

fn workload_row(w: &WorkloadResult, base: Option<f64>) -> String {
    let ws = &w.ws;
    format!(
        "| {} | {} | {} | {} | {:.0} | {} | {:.1} / {:.1} / {:.1} / {:.1} | {} / {} | {} / {} / {} | {} | {:.0} | {:.0} | {} |\n",
        w.server,
        w.name,
        w.rate,
        opt1(w.rate_actual),
        ws.delivered_msgs_per_s,
        base.map(|b| format!("{:.3}", ws.delivered_msgs_per_s / b)).unwrap_or_else(|| "-".into()),
        ws.latency_ms.p50,
        ws.latency_ms.p99,
        ws.latency_ms.p999,
        ws.latency_ms.max,
        ws.loss.missing_total,
        ws.loss.clients_with_loss,
        mib(w.rss_idle_kib),
        mib(w.rss_steady_kib),
        mib(w.rss_peak_kib),
        opt1(w.server_cpu_pct),
        ws.cpu_pct,
        ws.connect_all_ms,
        if w.passed { "pass".to_string() } else { format!("FAIL: {}", w.failures.join("; ")) },
    )
}

/// `args` as one line a POSIX shell splits back into the same arguments: arguments with
/// spaces or shell metacharacters are single-quoted (so `--server "NAME=COMMAND"` survives
/// being copied from a summary).
pub fn shell_command(args: &[String]) -> String {
    args.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// The markdown summary.
pub fn summary_md(res: &RunResults) -> String {
    let m = &res.machine;
    let base = res
        .raw_fanout
        .as_ref()
        .map(|f| f.ws.delivered_msgs_per_s)
        .filter(|b| *b > 0.0);
    let mut s = format!(
        "# Benchmark {}\n\n- Machine: {} ({} cores, {} MiB), kernel {}\n- Host settings: {}\n- Commit: {}{}\n- Command: `{}`\n\n",
        sys::utc_date(res.started_unix),
        m.cpu_model,
        m.cores,
        m.mem_total_mib,
        m.kernel,
        m.tuning.join(", "),
        res.commit,
        if res.commit_dirty { " (with uncommitted changes)" } else { "" },
        shell_command(&res.invocation),
    );
    if res.plan.tls.is_some() {
        s.push_str(
            "Clients connect over TLS (wss://, rustls, the server's certificate from a throwaway \
             CA); the raw-fanout baseline is plain TCP.\n\n",
        );
    }
    if let Some(f) = &res.raw_fanout {
        s.push_str(&format!(
            "## raw-fanout (baseline)\n\nThe trivial sender at full speed (its latency is queueing in socket buffers, \
             not a server figure). {} clients: **{:.0} msgs/s** delivered ({:.0} MB/s), p99 {:.1} ms, loss {}, sender CPU {}%, wsbench CPU {:.0}%\n\n",
            f.ws.clients,
            f.ws.delivered_msgs_per_s,
            f.ws.bytes_per_s / 1e6,
            f.ws.latency_ms.p99,
            f.ws.loss.missing_total,
            opt1(f.sender_cpu_pct),
            f.ws.cpu_pct,
        ));
    }
    if let Some(f) = &res.raw_steady {
        s.push_str(&format!(
            "## raw-fanout at the steady-500 shape (latency floor)\n\nThe trivial sender at R = {} in bursts as the \
             simulator's logs produce them. {} clients: {:.0} msgs/s, latency ms p50 / p99 / p99.9 / max \
             **{:.1} / {:.1} / {:.1} / {:.1}**, loss {}, sender CPU {}%. No server can beat this on this machine; \
             compare steady-500's latency with it.\n\n",
            res.plan.rate,
            f.ws.clients,
            f.ws.delivered_msgs_per_s,
            f.ws.latency_ms.p50,
            f.ws.latency_ms.p99,
            f.ws.latency_ms.p999,
            f.ws.latency_ms.max,
            f.ws.loss.missing_total,
            opt1(f.sender_cpu_pct),
        ));
    }
    s.push_str("## Workloads\n\n| server | workload | R | R actual | delivered/s | ÷ raw-fanout | latency ms p50 / p99 / p99.9 / max | missing / clients | RSS MiB idle / steady / peak | server CPU % | wsbench CPU % | connect all ms | verdict |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for w in &res.workloads {
        s.push_str(&workload_row(w, base));
    }
    for sat in &res.saturation {
        for w in &sat.steps {
            s.push_str(&workload_row(w, base));
        }
    }
    for sat in &res.saturation {
        s.push_str(&format!(
            "\n**saturation ({})**: highest R that held: {}, delivered {} msgs/s. Stopped: {}.\n",
            sat.server,
            sat.best_rate
                .map(|r| r.to_string())
                .unwrap_or_else(|| "none".into()),
            opt1(sat.best_delivered_msgs_per_s),
            sat.stopped_because
        ));
    }
    if let Some(i) = &res.ingest {
        s.push_str("\n## ingest\n\n");
        match (&i.output, &i.text, i.available) {
            (_, _, false) => s.push_str("not available (no ingest-bench binary)\n"),
            (Some(j), _, _) => s.push_str(&format!("```json\n{j}\n```\n")),
            (None, Some(t), _) => s.push_str(&format!("```\n{t}\n```\n")),
            (None, None, _) => s.push_str("no output\n"),
        }
    }
    s.push_str("\n## Commands\n\n```\n");
    for f in res.raw_fanout.iter().chain(res.raw_steady.iter()) {
        for c in &f.commands {
            s.push_str(&format!("{c}\n"));
        }
    }
    for w in res
        .workloads
        .iter()
        .chain(res.saturation.iter().flat_map(|x| x.steps.iter()))
    {
        s.push_str(&format!("# {} {}\n", w.server, w.name));
        for c in &w.commands {
            s.push_str(&format!("{c}\n"));
        }
    }
    s.push_str("```\n");
    if !res.errors.is_empty() {
        s.push_str("\n## Errors\n\n");
        for e in &res.errors {
            s.push_str(&format!("- {e}\n"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_command_line_keeps_each_argument_whole() {
        let args: Vec<String> = [
            "bench-run",
            "--server",
            "a=srv --log-list {log_list_url} --listen 127.0.0.1:{port}",
            "--out",
            "it's",
            "",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            shell_command(&args),
            "bench-run --server 'a=srv --log-list {log_list_url} --listen 127.0.0.1:{port}' \
             --out 'it'\\''s' ''"
        );
    }

    fn result_with(ws: WsBenchReport, name: &str) -> WorkloadResult {
        WorkloadResult {
            name: name.into(),
            server: "s".into(),
            rate: 1000,
            rate_actual: None,
            ws,
            server_cpu_pct: None,
            rss_idle_kib: None,
            rss_steady_kib: None,
            rss_peak_kib: None,
            samples: Vec::new(),
            passed: false,
            failures: Vec::new(),
            commands: Vec::new(),
        }
    }

    fn good_ws() -> WsBenchReport {
        WsBenchReport {
            clients: 4,
            connected: 4,
            delivered_msgs: 100,
            ..Default::default()
        }
    }

    #[test]
    fn placeholders_are_filled() {
        let sim = SimReady {
            http_base: "http://127.0.0.1:5".into(),
            log_list_url: "http://127.0.0.1:5/ll.json".into(),
        };
        let cmd = fill(
            "srv --log-list {log_list_url} --listen 127.0.0.1:{port} --ct {http_base}",
            &sim,
            9,
            None,
        );
        assert_eq!(cmd, "srv --log-list http://127.0.0.1:5/ll.json --listen 127.0.0.1:9 --ct http://127.0.0.1:5");
    }

    #[test]
    fn judge_applies_the_rules() {
        let mut r = result_with(good_ws(), "steady-4");
        judge(&mut r, None);
        assert!(r.passed, "{:?}", r.failures);

        let mut ws = good_ws();
        ws.loss.clients_with_loss = 1;
        ws.loss.missing_total = 3;
        let mut r = result_with(ws, "steady-4");
        judge(&mut r, None);
        assert!(!r.passed);
        assert!(r.failures[0].contains("lost 3"));

        let mut ws = good_ws();
        ws.latency_ms.p99 = 150.0;
        let mut steady = result_with(ws.clone(), "steady-4");
        judge(&mut steady, None);
        assert!(steady.passed, "p99 only limits saturation steps");
        let mut sat = result_with(ws, "saturation-4@2000");
        judge(&mut sat, None);
        assert!(!sat.passed);

        let mut r = result_with(good_ws(), "steady-4");
        judge(&mut r, Some("exit 1".into()));
        assert!(!r.passed);
    }

    #[test]
    fn summary_has_ratio_to_raw_fanout() {
        let bins = BinPaths {
            sim: "sim".into(),
            raw_fanout: "rf".into(),
            ingest_bench: None,
        };
        let plan = BenchPlan::quick(Vec::new(), bins, Path::new("/tmp"));
        let mut ws = good_ws();
        ws.delivered_msgs_per_s = 250.0;
        let mut base = good_ws();
        base.delivered_msgs_per_s = 1000.0;
        let res = RunResults {
            machine: sys::machine(),
            commit: "abc".into(),
            commit_dirty: false,
            started_unix: 0,
            invocation: vec!["bench-run".into()],
            plan,
            workloads: vec![result_with(ws, "steady-4")],
            saturation: Vec::new(),
            raw_fanout: Some(FanoutResult {
                ws: base,
                sender_cpu_pct: None,
                commands: Vec::new(),
            }),
            raw_steady: None,
            ingest: Some(IngestResult {
                available: false,
                output: None,
                text: None,
                command: None,
            }),
            ratios: Vec::new(),
            out_dir: PathBuf::from("/tmp"),
            errors: Vec::new(),
        };
        let r = ratios(&res);
        assert_eq!(r.len(), 1);
        assert!((r[0].fraction_of_raw_fanout - 0.25).abs() < 1e-9);
        let md = summary_md(&res);
        assert!(md.contains("| 0.250 |"), "{md}");
        assert!(md.contains("not available"));
        assert!(md.contains("1970-01-01"));
    }

    /// A full run committed with its summary: the results the harness wrote.
    const COMMITTED_RUN: &str = "../bench-results/2026-12-02-9b6dcf6d26";

    fn committed_run_file(name: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(COMMITTED_RUN)
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn committed_results_render_their_committed_summary() {
        let res: RunResults =
            serde_json::from_str(&committed_run_file("results.json")).expect("results.json");
        let md = summary_md(&res);
        let committed = committed_run_file("summary.md");
        for (i, (new, old)) in md.lines().zip(committed.lines()).enumerate() {
            assert_eq!(new, old, "summary.md line {}", i + 1);
        }
        assert_eq!(md, committed);
    }

    #[test]
    fn committed_results_keep_every_field() {
        let committed: serde_json::Value =
            serde_json::from_str(&committed_run_file("results.json")).expect("results.json");
        let res: RunResults = serde_json::from_value(committed.clone()).expect("results.json");
        let mut again = serde_json::to_value(&res).expect("serializes");
        // The run predates --tls; its plan has no such field.
        again["plan"]
            .as_object_mut()
            .expect("plan object")
            .remove("tls");
        assert_eq!(again, committed);
    }
}
