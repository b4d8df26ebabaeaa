//! What bench-run runs: the servers under test ([`ServerSpec`]), the helper binaries
//! ([`BinPaths`]), the workloads of benchmark.md ([`Workload`]) and every rate, count and
//! window of a run ([`BenchPlan`], with benchmark.md's defaults and a quick variant), plus the
//! shapes [`super::workloads`] runs them in ([`WorkloadShape`], [`FanoutShape`]). The plan is
//! copied into results.json as it was run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};

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

/// One server workload's shape: what the simulator produces and what the clients do.
pub(super) struct WorkloadShape {
    /// `steady-500`, `saturation-500@4000`, …
    pub(super) name: String,
    /// Request path (selects the stream).
    pub(super) path: &'static str,
    /// Clients in all, slow ones included.
    pub(super) clients: usize,
    /// Clients that never read.
    pub(super) slow: usize,
    /// Ingest rate R.
    pub(super) rate: u64,
    pub(super) warmup: Duration,
    pub(super) duration: Duration,
}

impl BenchPlan {
    /// steady, full and slow as this plan shapes them, in that order.
    pub(super) fn fixed_rate_workloads(&self) -> [(Workload, WorkloadShape); 3] {
        let shape = |name: String, path, clients, slow| WorkloadShape {
            name,
            path,
            clients,
            slow,
            rate: self.rate,
            warmup: self.warmup,
            duration: self.duration,
        };
        [
            (
                Workload::Steady,
                shape(format!("steady-{}", self.clients), "/", self.clients, 0),
            ),
            (
                Workload::Full,
                shape(
                    format!("full-{}", self.full_clients),
                    "/full-stream",
                    self.full_clients,
                    0,
                ),
            ),
            (
                Workload::Slow,
                shape(
                    format!("slow-{}", self.slow_clients),
                    "/",
                    self.clients,
                    self.slow_clients,
                ),
            ),
        ]
    }

    /// One step of the saturation search, at `rate`.
    pub(super) fn saturation_step(&self, rate: u64) -> WorkloadShape {
        WorkloadShape {
            name: format!("saturation-{}@{rate}", self.clients),
            path: "/",
            clients: self.clients,
            slow: 0,
            rate,
            warmup: self.sat_warmup,
            duration: self.sat_duration,
        }
    }
}

/// How the trivial sender sends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum FanoutShape {
    /// As fast as the slowest reader: the machine's throughput limit.
    FullSpeed,
    /// steady-500's input: R/s in bursts of R/logs frames every 1 s/logs, as when each of the
    /// simulator's logs moves its tree head once a second. Its latency is the floor any server
    /// can reach on steady-500 on this machine (the sender does no work but the writes).
    Steady,
}

impl FanoutShape {
    /// The clients' measured window.
    pub(super) fn window(self, plan: &BenchPlan) -> Duration {
        match self {
            FanoutShape::FullSpeed => plan.fanout_duration,
            FanoutShape::Steady => plan.duration.min(plan.fanout_duration),
        }
    }

    /// Prefix of its log files.
    pub(super) fn tag(self) -> &'static str {
        match self {
            FanoutShape::FullSpeed => "raw-fanout",
            FanoutShape::Steady => "raw-fanout-steady",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick() -> BenchPlan {
        let bins = BinPaths {
            sim: "sim".into(),
            raw_fanout: "rf".into(),
            ingest_bench: None,
        };
        BenchPlan::quick(Vec::new(), bins, Path::new("/tmp"))
    }

    #[test]
    fn workloads_are_named_and_shaped_as_benchmark_md_says() {
        let plan = quick();
        let shapes = plan.fixed_rate_workloads();
        let summary: Vec<_> = shapes
            .iter()
            .map(|(w, s)| (*w, s.name.as_str(), s.path, s.clients, s.slow, s.rate))
            .collect();
        assert_eq!(
            summary,
            [
                (Workload::Steady, "steady-20", "/", 20, 0, 200),
                (Workload::Full, "full-5", "/full-stream", 5, 0, 200),
                (Workload::Slow, "slow-2", "/", 20, 2, 200),
            ]
        );
        assert!(shapes.iter().all(|(_, s)| s.duration == plan.duration));
        let step = plan.saturation_step(400);
        assert_eq!(
            (step.name.as_str(), step.rate, step.slow),
            ("saturation-20@400", 400, 0)
        );
        assert_eq!(
            (step.warmup, step.duration),
            (plan.sat_warmup, plan.sat_duration)
        );
    }

    #[test]
    fn the_steady_shape_sender_never_measures_longer_than_the_steady_window() {
        let mut plan = quick();
        plan.duration = Duration::from_secs(60);
        plan.fanout_duration = Duration::from_secs(20);
        assert_eq!(FanoutShape::Steady.window(&plan), Duration::from_secs(20));
        plan.duration = Duration::from_secs(3);
        assert_eq!(FanoutShape::Steady.window(&plan), Duration::from_secs(3));
        assert_eq!(
            FanoutShape::FullSpeed.window(&plan),
            Duration::from_secs(20)
        );
    }
}
