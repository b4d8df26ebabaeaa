//! `ctlog-sim`: run the CT log simulator as a process.
//!
//! Prints one JSON line on stdout when ready
//! (`{"http_base","log_list_url","https_log_list_url","ca_file","logs":[{"url","kind","name"}]}`),
//! then serves until SIGTERM/SIGINT, or until stdin reaches EOF with `--exit-on-stdin-eof`.
//!
//! `--faults FILE` injects the faults of a TOML schedule (format: `loadtest::sim::faults`;
//! samples in `loadtest/faults/`); `/sim/state` counts how often each rule fired.

use std::{io::Write, time::Duration};

use clap::{Parser, ValueEnum};
use loadtest::sim::{self, SimConfig};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Mix {
    Rfc6962,
    Static,
    Both,
}

#[derive(Debug, Parser)]
#[command(
    name = "ctlog-sim",
    about = "Simulated RFC 6962 and Static CT API logs on 127.0.0.1"
)]
struct Args {
    /// Number of growing RFC 6962 logs.
    #[arg(long = "rfc6962", default_value_t = 2)]
    rfc6962: usize,
    /// Number of growing Static CT API logs.
    #[arg(long = "static", default_value_t = 2)]
    static_logs: usize,
    /// Which log types to run (overrides the counts of the excluded type to 0).
    #[arg(long, value_enum, default_value_t = Mix::Both)]
    mix: Mix,
    /// New entries per second summed over all growing logs.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Entries per growing log present at start.
    #[arg(long, default_value_t = 0)]
    initial: u64,
    /// get-entries caps, cycled over the RFC 6962 logs.
    #[arg(long, value_delimiter = ',', default_value = "32,256,1000")]
    page_caps: Vec<u64>,
    /// Trillian-style get-entries alignment.
    #[arg(long)]
    align: bool,
    /// Also serve HTTPS with a generated CA (written to a temp file, see `ca_file`).
    #[arg(long)]
    https: bool,
    /// Logs (by index) listed with their https URL in the http log list, a mixed list
    /// (needs --https).
    #[arg(long, value_delimiter = ',')]
    https_listed: Vec<usize>,
    /// Add the replay logs serving real fixture entries.
    #[arg(long)]
    replay: bool,
    /// Fraction of entries reusing real fixture certificates.
    #[arg(long, default_value_t = 0.0)]
    real_share: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// STH period in milliseconds (RFC 6962 logs).
    #[arg(long, default_value_t = 1000)]
    sth_interval_ms: u64,
    /// Checkpoint period in milliseconds (static logs).
    #[arg(long, default_value_t = 1000)]
    checkpoint_interval_ms: u64,
    /// HTTP port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    listen_port: u16,
    /// Measure single-thread entry generation over N entries, print `{"entries_per_sec":..}`
    /// and exit (no servers are started).
    #[arg(long, value_name = "N")]
    bench_generation: Option<u64>,
    /// Exit when stdin is closed (lets a parent process tie the simulator's lifetime to its own).
    #[arg(long)]
    exit_on_stdin_eof: bool,
    /// Fault schedule (TOML) to inject; see `loadtest::sim::faults` for the format.
    #[arg(long, value_name = "FILE")]
    faults: Option<std::path::PathBuf>,
}

impl Args {
    fn config(&self) -> Result<SimConfig, String> {
        let (rfc, st) = match self.mix {
            Mix::Rfc6962 => (self.rfc6962, 0),
            Mix::Static => (0, self.static_logs),
            Mix::Both => (self.rfc6962, self.static_logs),
        };
        let faults = match &self.faults {
            Some(path) => sim::FaultSchedule::load(path)?,
            None => sim::FaultSchedule::default(),
        };
        Ok(SimConfig {
            rfc6962_logs: rfc,
            static_logs: st,
            rate_per_sec: self.rate.max(0.0),
            initial_entries: self.initial,
            page_caps: self.page_caps.clone(),
            align_pages: self.align,
            https: self.https,
            https_listed: self.https_listed.clone(),
            real_share: self.real_share.clamp(0.0, 1.0),
            replay: self.replay,
            seed: self.seed,
            checkpoint_interval: Duration::from_millis(self.checkpoint_interval_ms.max(1)),
            sth_interval: Duration::from_millis(self.sth_interval_ms.max(1)),
            listen_port: self.listen_port,
            fixtures_dir: None,
            faults,
            record_requests: false,
        })
    }
}

fn ready_line(handle: &sim::SimHandle) -> String {
    let logs: Vec<serde_json::Value> = handle
        .logs()
        .iter()
        .map(|l| serde_json::json!({"url": l.url, "kind": l.kind.as_str(), "name": l.name}))
        .collect();
    serde_json::json!({
        "http_base": handle.http_base,
        "log_list_url": handle.log_list_url,
        "apple_list_url": handle.apple_list_url,
        "https_log_list_url": handle.https_log_list_url,
        "ca_file": handle.ca_file,
        "logs": logs,
    })
    .to_string()
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if let Some(count) = args.bench_generation {
        return match sim::measure_generation(count.max(1), args.seed) {
            Ok(rate) => {
                println!(
                    "{}",
                    serde_json::json!({"entries": count, "entries_per_sec": rate.round()})
                );
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ctlog-sim: {e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let config = match args.config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ctlog-sim: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let mut handle = match sim::start(config) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("ctlog-sim: failed to start: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{}", ready_line(&handle))
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return std::process::ExitCode::FAILURE;
    }
    drop(stdout);
    wait_for_shutdown(args.exit_on_stdin_eof);
    handle.stop();
    std::process::ExitCode::SUCCESS
}

/// Blocks until SIGINT/SIGTERM (or stdin EOF when asked).
fn wait_for_shutdown(exit_on_stdin_eof: bool) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    rt.block_on(async move {
        let stdin_eof = async {
            if exit_on_stdin_eof {
                let mut buf = [0u8; 256];
                let mut stdin = tokio::io::stdin();
                while let Ok(n) = tokio::io::AsyncReadExt::read(&mut stdin, &mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
            } else {
                std::future::pending::<()>().await;
            }
        };
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
            () = stdin_eof => {}
        }
    });
}
