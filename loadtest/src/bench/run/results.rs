//! What a run produced, as written to results.json: one [`WorkloadResult`] per server
//! workload (client figures from wsbench, server figures from [`super::sample`], the verdict
//! from [`super::judge`]), the saturation search, raw-fanout, ingest, the ratios, and the run's
//! provenance ([`RunResults`]). Field names are the JSON's; renaming one changes the format.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::plan::BenchPlan;
use crate::bench::sys::{Machine, Rss};
use crate::bench::wsbench::WsBenchReport;

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

/// Results to feed the pure parts (judging, summary) in tests.
#[cfg(test)]
pub(super) mod fixtures {
    use super::*;

    pub(crate) fn result_with(ws: WsBenchReport, name: &str) -> WorkloadResult {
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

    pub(crate) fn good_ws() -> WsBenchReport {
        WsBenchReport {
            clients: 4,
            connected: 4,
            delivered_msgs: 100,
            ..Default::default()
        }
    }

    /// A run of the quick plan on a fixed machine with nothing measured yet.
    pub(crate) fn run_results() -> RunResults {
        let bins = super::super::plan::BinPaths {
            sim: "sim".into(),
            raw_fanout: "rf".into(),
            ingest_bench: None,
        };
        let plan = BenchPlan::quick(Vec::new(), bins, std::path::Path::new("/tmp"));
        RunResults {
            machine: Machine {
                cpu_model: "Test CPU".into(),
                cores: 2,
                kernel: "6.0".into(),
                mem_total_mib: 1024,
                tuning: vec!["somaxconn=4096".into()],
            },
            commit: "abc".into(),
            commit_dirty: false,
            started_unix: 0,
            invocation: vec!["bench-run".into()],
            plan,
            workloads: Vec::new(),
            saturation: Vec::new(),
            raw_fanout: None,
            raw_steady: None,
            ingest: None,
            ratios: Vec::new(),
            out_dir: PathBuf::from("/tmp"),
            errors: Vec::new(),
        }
    }
}
