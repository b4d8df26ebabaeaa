//! The controller: the calling thread of [`run`]. It starts the worker threads, walks the run
//! through its [`Phase`]s (connect → warm-up → measured window → optional gap-check drain →
//! stop), reads the gap-check targets and the server's skip report, and hands everything to
//! [`super::aggregate`] for the report.
//!
//! [`Control`] (in [`super::control`]) is the only state shared with the workers.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::aggregate::merge;
use super::config::{validate, GapCheckConfig, WsBenchConfig};
use super::connect::{parse_ws_url, WsTarget};
use super::control::{Control, Phase, Timing};
use super::report::WsBenchReport;
use super::targets::{add_skips, fetch_server_skips, fetch_targets, with_latest_skips, Targets};
use super::worker::{worker_main, ClientSpec, WorkerResult};
use crate::bench::limits::{CONNECT_ALL_TIMEOUT, SERVER_REPORT_SETTLE};
use crate::bench::tracker::canonical_url;

/// Runs a benchmark. `on_phase` is called on the calling thread as each phase starts (the
/// moments bench-run samples the server's CPU).
pub fn run(cfg: &WsBenchConfig, on_phase: &mut dyn FnMut(Phase)) -> anyhow::Result<WsBenchReport> {
    validate(cfg)?;
    let target = parse_ws_url(&cfg.url, cfg.ca_file.as_deref())?;
    let ctl = Arc::new(Control::new(cfg.connect_concurrency));
    let starts: Arc<HashMap<String, u64>> = Arc::new(
        cfg.gap
            .iter()
            .flat_map(|g| g.starts.iter())
            .map(|(u, s)| (canonical_url(u), *s))
            .collect(),
    );
    on_phase(Phase::Connecting);
    let t0 = Instant::now();
    let handles = spawn_workers(cfg, &ctl, &target, &starts)?;
    let outcome = drive(cfg, &ctl, t0, on_phase);
    ctl.set_phase(Phase::Stop);
    on_phase(Phase::Stop);
    let mut results = Vec::with_capacity(handles.len());
    for h in handles {
        match h.join() {
            Ok(r) => results.push(r),
            Err(_) => bail!("a wsbench worker thread panicked"),
        }
    }
    let mut timing = outcome?;
    if let (Some(gap), Some(targets)) = (&cfg.gap, timing.gap_targets.take()) {
        // Read once no client reads any more: every index a client jumped over was published
        // by then, so whether it was corrupted is known.
        timing.gap_targets = Some(with_latest_skips(targets, gap));
    }
    Ok(merge(cfg, &ctl, timing, results))
}

/// Starts `cfg.threads` workers; client `i` lives on worker `i % threads`.
fn spawn_workers(
    cfg: &WsBenchConfig,
    ctl: &Arc<Control>,
    target: &WsTarget,
    starts: &Arc<HashMap<String, u64>>,
) -> anyhow::Result<Vec<JoinHandle<WorkerResult>>> {
    let mut handles = Vec::with_capacity(cfg.threads);
    for w in 0..cfg.threads {
        let specs: Vec<ClientSpec> = (w..cfg.clients)
            .step_by(cfg.threads)
            .map(|i| ClientSpec { slow: i < cfg.slow })
            .collect();
        let (ctl, target, starts) = (ctl.clone(), target.clone(), starts.clone());
        let buf = cfg.read_buf_bytes;
        let h = std::thread::Builder::new()
            .name(format!("wsbench-{w}"))
            .spawn(move || worker_main(specs, ctl, target, starts, buf))
            .context("spawning a worker thread")?;
        handles.push(h);
    }
    Ok(handles)
}

/// Walks the phases; returns how long each took.
fn drive(
    cfg: &WsBenchConfig,
    ctl: &Control,
    t0: Instant,
    on_phase: &mut dyn FnMut(Phase),
) -> anyhow::Result<Timing> {
    while ctl.connected.load(Ordering::Acquire) + ctl.failed.load(Ordering::Acquire) < cfg.clients
        && t0.elapsed() < CONNECT_ALL_TIMEOUT
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut timing = Timing::connected_after(t0.elapsed());
    if ctl.connected.load(Ordering::Acquire) == 0 {
        // Nothing to measure; the report carries the connect errors.
        return Ok(timing);
    }
    ctl.set_phase(Phase::Warmup);
    on_phase(Phase::Warmup);
    std::thread::sleep(cfg.warmup);
    ctl.set_phase(Phase::Measuring);
    // The window starts when the workers start counting, before the hook's own work.
    let w0 = Instant::now();
    on_phase(Phase::Measuring);
    std::thread::sleep(cfg.duration.saturating_sub(w0.elapsed()));
    let Some(gap) = &cfg.gap else {
        ctl.set_phase(Phase::Draining);
        timing.window = w0.elapsed();
        on_phase(Phase::Draining);
        return Ok(timing);
    };
    let targets = fetch_targets(&gap.state_url);
    // Counters stop at the phase change; the state is read right after so targets are
    // no earlier than the last measured message.
    ctl.set_phase(Phase::Draining);
    timing.window = w0.elapsed();
    on_phase(Phase::Draining);
    let mut targets = targets?;
    add_skips(&mut targets, &gap.expected_skips);
    drain(cfg, ctl, gap, Arc::new(targets), &mut timing);
    Ok(timing)
}

/// Hands the targets to the workers, waits (bounded) until every worker's reading clients
/// reached them, then reads the server's skip report when one was asked for.
fn drain(
    cfg: &WsBenchConfig,
    ctl: &Control,
    gap: &GapCheckConfig,
    targets: Targets,
    timing: &mut Timing,
) {
    if let Ok(mut t) = ctl.targets.lock() {
        *t = Some(targets.clone());
    }
    ctl.phase_tx.send_replace(Phase::Draining); // wake workers to read the targets
    let d0 = Instant::now();
    while ctl.drained_workers.load(Ordering::Acquire) < cfg.threads
        && d0.elapsed() < gap.drain_timeout
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    timing.drain = d0.elapsed();
    timing.gap_targets = Some(targets);
    timing.server_report = gap.server_report_url.as_deref().map(|url| {
        // A server's report may trail its stream (certstream copies counters across cores
        // once a second): the last skips before the targets may not be listed yet.
        std::thread::sleep(SERVER_REPORT_SETTLE);
        fetch_server_skips(url).map_err(|e| format!("{e:#}"))
    });
}
