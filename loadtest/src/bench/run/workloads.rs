//! The workloads as bench-run runs them: each server workload with fresh children (simulator,
//! server under test, sampler) and a wsbench run with a gap check against the simulator
//! ([`server_workload`]); the saturation search, one such workload per rate
//! ([`saturation`]); raw-fanout ([`raw_fanout_workload`]); and ingest ([`ingest_workload`]).
//! Fresh processes per workload make every RSS and CPU figure its own. Children come from
//! [`super::supervise`], figures from [`super::sample`], verdicts from [`super::judge`].

use std::path::Path;
use std::time::{Duration, Instant};

use super::commands::{health_url, log_tag, wsbench_command};
use super::judge::{judge, new_saturation, record_saturation_step};
use super::plan::{BenchPlan, FanoutShape, ServerSpec, Workload, WorkloadShape};
use super::results::{FanoutResult, IngestResult, RunResults, SaturationResult, WorkloadResult};
use super::sample::{sender_cpu_pct, sim_total, window_figures, Sampler, WindowMark, WindowMarks};
use super::supervise::{run_to_completion, start_raw_fanout, start_server, start_sim};
use crate::bench::limits::SATURATION_STEPS_MAX;
use crate::bench::sys;
use crate::bench::wsbench::{self, GapCheckConfig, Phase, WsBenchConfig};

/// Runs the plan's server workloads (steady, full, slow, then the saturation search) against
/// one server; a workload that could not run is an error of the run, not a failed workload.
pub(super) fn run_server(
    plan: &BenchPlan,
    server: &ServerSpec,
    out_dir: &Path,
    res: &mut RunResults,
) {
    let has = |w: Workload| plan.workloads.contains(&w);
    for (w, shape) in plan.fixed_rate_workloads() {
        if !has(w) {
            continue;
        }
        match server_workload(plan, server, &shape, out_dir) {
            Ok(r) => res.workloads.push(r),
            Err(e) => res
                .errors
                .push(format!("{} {}: {e:#}", server.name, shape.name)),
        }
    }
    if has(Workload::Saturation) {
        res.saturation
            .push(saturation(plan, server, out_dir, &mut res.errors));
    }
}

/// Steps R up through the plan's rates until one fails (or the simulator cannot keep up).
fn saturation(
    plan: &BenchPlan,
    server: &ServerSpec,
    out_dir: &Path,
    errors: &mut Vec<String>,
) -> SaturationResult {
    let mut out = new_saturation(&server.name);
    for &rate in plan.sat_rates.iter().take(SATURATION_STEPS_MAX) {
        let shape = plan.saturation_step(rate);
        let step = match server_workload(plan, server, &shape, out_dir) {
            Ok(s) => s,
            Err(e) => {
                errors.push(format!("{} {}: {e:#}", server.name, shape.name));
                out.stopped_because = format!("R={rate}: {e:#}");
                break;
            }
        };
        if !record_saturation_step(&mut out, step, plan.sat_duration) {
            break;
        }
    }
    out
}

/// The clients of a server workload: `shape` on `ws_base`, gap-checked against the
/// simulator's `state_url` and the server's skip report.
fn server_clients(
    plan: &BenchPlan,
    shape: &WorkloadShape,
    ws_base: &str,
    state_url: &str,
) -> WsBenchConfig {
    let mut cfg = WsBenchConfig::new(&format!("{}{}", ws_base, shape.path), shape.clients);
    cfg.slow = shape.slow;
    cfg.warmup = shape.warmup;
    cfg.duration = shape.duration;
    cfg.threads = plan.ws_threads;
    cfg.ca_file = plan.tls.as_ref().map(|t| t.ca.clone());
    let mut gap = GapCheckConfig::new(state_url);
    gap.drain_timeout = plan.drain_timeout;
    gap.server_report_url = Some(health_url(ws_base));
    cfg.gap = Some(gap);
    cfg
}

/// One server workload: fresh simulator and server, idle RSS after the settle time, the
/// clients' run with the window marked, then figures and verdict.
fn server_workload(
    plan: &BenchPlan,
    server: &ServerSpec,
    shape: &WorkloadShape,
    out_dir: &Path,
) -> anyhow::Result<WorkloadResult> {
    let tag = log_tag(&server.name, &shape.name);
    let sim = start_sim(plan, shape.rate, out_dir, &tag)?;
    let mut srv = start_server(server, &sim.ready, plan.tls.as_ref(), out_dir, &tag)?;
    let pid = srv.guard.pid();
    let sampler = Sampler::start(pid);
    let sampler_t0 = sampler.started;
    std::thread::sleep(plan.idle_settle);
    srv.guard.check_alive()?;
    let rss_idle = sys::proc_rss(pid).map(|r| r.rss_kib);
    let state_url = format!("{}/sim/state", sim.ready.http_base.trim_end_matches('/'));
    let cfg = server_clients(plan, shape, &srv.ws_base, &state_url);
    let mut marks = WindowMarks::default();
    let ws = wsbench::run(&cfg, &mut |p| {
        if matches!(p, Phase::Measuring | Phase::Draining) {
            marks.marks.push(WindowMark {
                phase: p,
                at: Instant::now(),
                server_cpu: sys::proc_cpu(pid),
                sim_total: sim_total(&state_url),
            });
        }
    });
    let rss_end = sys::proc_rss(pid);
    let alive = srv.guard.check_alive();
    let samples = sampler.finish();
    drop(srv.guard);
    drop(sim.guard);
    let ws = ws?;
    let mut r = WorkloadResult {
        name: shape.name.clone(),
        server: server.name.clone(),
        rate: shape.rate,
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

/// The trivial sender in `shape` and the plan's clients against it.
pub(super) fn raw_fanout_workload(
    plan: &BenchPlan,
    out_dir: &Path,
    shape: FanoutShape,
) -> anyhow::Result<FanoutResult> {
    let fanout = start_raw_fanout(plan, out_dir, shape)?;
    let mut cfg = WsBenchConfig::new(&format!("ws://{}/", fanout.addr), plan.clients);
    cfg.warmup = plan.warmup;
    cfg.duration = shape.window(plan);
    cfg.threads = plan.ws_threads;
    let pid = fanout.guard.pid();
    let mut cpu: Vec<(Instant, Option<Duration>)> = Vec::new();
    let ws = wsbench::run(&cfg, &mut |p| {
        if matches!(p, Phase::Measuring | Phase::Draining) {
            cpu.push((Instant::now(), sys::proc_cpu(pid)));
        }
    })?;
    drop(fanout.guard);
    Ok(FanoutResult {
        commands: vec![fanout.command, wsbench_command(&cfg)],
        ws,
        sender_cpu_pct: sender_cpu_pct(&cpu),
    })
}

/// Runs ingest-bench when there is one.
pub(super) fn ingest_workload(plan: &BenchPlan) -> IngestResult {
    let Some(bin) = &plan.bins.ingest_bench else {
        return IngestResult {
            available: false,
            output: None,
            text: None,
            command: None,
        };
    };
    ingest_result(bin.display().to_string(), &run_to_completion(bin))
}

/// ingest-bench's last JSON line, or its text (64 KiB at most) when it printed none.
fn ingest_result(command: String, stdout: &str) -> IngestResult {
    let json = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok());
    IngestResult {
        available: true,
        text: json
            .is_none()
            .then(|| stdout.chars().take(64 * 1024).collect()),
        output: json,
        command: Some(command),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::run::plan::{BinPaths, TlsFiles};

    fn plan() -> BenchPlan {
        let bins = BinPaths {
            sim: "sim".into(),
            raw_fanout: "rf".into(),
            ingest_bench: None,
        };
        BenchPlan::standard(Vec::new(), bins, Path::new("/tmp"))
    }

    #[test]
    fn server_clients_are_gap_checked_against_the_simulator_and_the_server() {
        let mut plan = plan();
        let [_, (_, full), (_, slow)] = plan.fixed_rate_workloads();
        let cfg = server_clients(
            &plan,
            &full,
            "ws://127.0.0.1:9",
            "http://127.0.0.1:5/sim/state",
        );
        assert_eq!(
            (cfg.url.as_str(), cfg.clients, cfg.slow),
            ("ws://127.0.0.1:9/full-stream", 100, 0)
        );
        assert_eq!(
            (cfg.warmup, cfg.duration, cfg.threads),
            (plan.warmup, plan.duration, 2)
        );
        assert_eq!(cfg.ca_file, None);
        let gap = cfg.gap.expect("gap check");
        assert_eq!(gap.state_url, "http://127.0.0.1:5/sim/state");
        assert_eq!(gap.drain_timeout, plan.drain_timeout);
        assert_eq!(
            gap.server_report_url.as_deref(),
            Some("http://127.0.0.1:9/health/deep")
        );
        plan.tls = Some(TlsFiles {
            ca: "/p/ca.pem".into(),
            cert: "/p/c".into(),
            key: "/p/k".into(),
        });
        let cfg = server_clients(
            &plan,
            &slow,
            "wss://127.0.0.1:9",
            "http://127.0.0.1:5/sim/state",
        );
        assert_eq!(
            (cfg.url.as_str(), cfg.clients, cfg.slow),
            ("wss://127.0.0.1:9/", 500, 10)
        );
        assert_eq!(cfg.ca_file, Some("/p/ca.pem".into()));
    }

    #[test]
    fn ingest_output_is_its_last_json_line_or_its_text() {
        let r = ingest_result("ib".into(), "warming up\n{\"certs\":71}\n\n");
        assert_eq!(r.output, Some(serde_json::json!({"certs": 71})));
        assert_eq!(
            (r.text, r.command.as_deref(), r.available),
            (None, Some("ib"), true)
        );
        let r = ingest_result("ib".into(), "failed to run: no such file");
        assert_eq!(r.output, None);
        assert_eq!(r.text.as_deref(), Some("failed to run: no such file"));
        let long = "x".repeat(70 * 1024);
        assert_eq!(
            ingest_result("ib".into(), &long).text.map(|t| t.len()),
            Some(64 * 1024)
        );
    }
}
