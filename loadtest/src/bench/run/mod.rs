//! bench-run: the six workloads of benchmark.md in one command, written to
//! `bench-results/<YYYY-MM-DD>-<short commit>/{results.json,summary.md}`, with the charts
//! `throughput.svg` and `latency.svg` beside them.
//!
//! # Layout and data flow
//!
//! | module | concern |
//! |---|---|
//! | `plan` | what to run: [`BenchPlan`] (servers, workloads, rates, clients, windows) |
//! | `commands` | the children's command lines from the plan and templates; their ready lines |
//! | `supervise` | starting, waiting for and killing the children ([`ChildGuard`]); their logs |
//! | `workloads` | each workload: children + wsbench run + sampling + verdict |
//! | `sample` | /proc RSS and CPU of the server, window marks → CPU %, actual R, steady RSS |
//! | `judge` | benchmark.md's pass rules, the saturation search's stop, ratios to raw-fanout |
//! | `results` | [`RunResults`] and its parts: results.json's format |
//! | `summary` | results.json and summary.md, rendered from [`RunResults`] alone |
//! | `charts` | throughput.svg and latency.svg beside summary.md (plotters), from [`RunResults`] alone |
//!
//! [`run`] takes a [`BenchPlan`], names the output directory after the date and the commit,
//! and runs raw-fanout (both shapes), then every server's workloads, then ingest. Each server
//! workload (`workloads`) gets its command lines from `commands`, its children from
//! `supervise`, a 1 Hz sampler and window marks from `sample`, and a `wsbench` run with a
//! gap check against the simulator; its figures go into a [`WorkloadResult`] that `judge`
//! gives a verdict. When all ran, `judge::ratios` relates every server to raw-fanout and
//! `summary` writes results.json and summary.md. A workload that could not run is recorded
//! in [`RunResults::errors`] and the run goes on.
//!
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
//!
//! [`CHILD_READY_TIMEOUT`]: crate::bench::limits::CHILD_READY_TIMEOUT
//! [`SATURATION_STEPS_MAX`]: crate::bench::limits::SATURATION_STEPS_MAX
//! [`wsbench`]: crate::bench::wsbench

mod charts;
mod commands;
mod judge;
mod plan;
mod results;
mod sample;
mod summary;
mod supervise;
mod workloads;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;

pub use charts::{draw as draw_charts, draw_from_file as draw_charts_from_file};
pub use plan::{BenchPlan, BinPaths, ServerSpec, TlsFiles, Workload};
pub use results::{
    FanoutResult, IngestResult, Ratio, RunResults, Sample, SaturationResult, WorkloadResult,
};
pub use summary::{shell_command, summary_md};
pub use supervise::ChildGuard;

use crate::bench::sys;
use judge::ratios;
use plan::FanoutShape;
use summary::write_results;
use supervise::git_commit;
use workloads::{ingest_workload, raw_fanout_workload, run_server};

/// Runs `plan`, writes results.json and summary.md, and returns the results.
pub fn run(plan: &BenchPlan) -> anyhow::Result<RunResults> {
    let mut res = open_run(plan)?;
    let out_dir = res.out_dir.clone();
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
    if let Err(e) = charts::draw(&res, &out_dir) {
        res.errors.push(format!("charts: {e:#}"));
    }
    write_results(&res)?;
    Ok(res)
}

/// The run's provenance (machine, commit, time, command line, plan) and its output directory,
/// `<out_root>/<YYYY-MM-DD>-<short commit>`, created.
fn open_run(plan: &BenchPlan) -> anyhow::Result<RunResults> {
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
    Ok(RunResults {
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
        out_dir,
        errors: Vec::new(),
    })
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
