//! The command lines bench-run gives its children and the ready lines they answer with, as
//! pure functions: the simulator's arguments ([`sim_args`]), the server's command and
//! WebSocket base from the user's templates ([`server_command`]), raw-fanout's arguments
//! ([`raw_fanout_args`]), the wsbench command equivalent to a library run
//! ([`wsbench_command`], for the summary), and the parsers of the simulator's and raw-fanout's
//! first stdout line. [`super::supervise`] runs what these build.

use anyhow::{bail, Context};

use super::plan::{BenchPlan, FanoutShape, ServerSpec, TlsFiles};
use crate::bench::wsbench::WsBenchConfig;

/// The simulator's ready line.
#[derive(Debug, Clone, serde::Deserialize)]
pub(super) struct SimReady {
    pub(super) http_base: String,
    pub(super) log_list_url: String,
}

/// Parses the simulator's ready line; it must serve on 127.0.0.1.
pub(super) fn parse_sim_ready(line: &str) -> anyhow::Result<SimReady> {
    let ready: SimReady =
        serde_json::from_str(line.trim()).with_context(|| format!("sim ready line {line:?}"))?;
    if !ready.http_base.starts_with("http://127.0.0.1") {
        bail!("the simulator is not on 127.0.0.1: {}", ready.http_base);
    }
    Ok(ready)
}

/// The address in raw-fanout's ready line (`{"listening":"127.0.0.1:PORT",…}`).
pub(super) fn parse_fanout_ready(line: &str) -> anyhow::Result<String> {
    let v: serde_json::Value =
        serde_json::from_str(line.trim()).context("raw-fanout ready line")?;
    let addr = v
        .get("listening")
        .and_then(|a| a.as_str())
        .context("raw-fanout ready line has no address")?;
    Ok(addr.to_string())
}

/// `ctlog-sim` arguments for the plan's logs at `rate`, with its fault schedule if any.
pub(super) fn sim_args(plan: &BenchPlan, rate: u64) -> anyhow::Result<Vec<String>> {
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
    Ok(args)
}

/// A server's command line and WebSocket base, its templates filled in.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct ServerCommand {
    /// Run as `sh -c 'exec COMMAND'`.
    pub(super) command: String,
    /// Without a trailing slash.
    pub(super) ws_base: String,
}

/// Fills the server's templates for a server on `port`; its WebSocket base must be on
/// 127.0.0.1 (with `wss` when the plan serves TLS).
pub(super) fn server_command(
    spec: &ServerSpec,
    sim: &SimReady,
    port: u16,
    tls: Option<&TlsFiles>,
) -> anyhow::Result<ServerCommand> {
    let command = fill(&spec.cmd, sim, port, tls);
    let ws_base = fill(&spec.ws_url, sim, port, tls);
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    if !ws_base.starts_with(&format!("{scheme}://127.0.0.1")) {
        bail!("benchmarks run on {scheme}://127.0.0.1 only, not {ws_base}");
    }
    Ok(ServerCommand {
        command,
        ws_base: ws_base.trim_end_matches('/').to_string(),
    })
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

/// `raw-fanout` arguments for `shape`.
pub(super) fn raw_fanout_args(plan: &BenchPlan, shape: FanoutShape) -> Vec<String> {
    // The sender outlives the clients' whole run (connect, warm-up, window) with margin.
    let serve_s = (plan.warmup + shape.window(plan)).as_secs_f64() + 120.0;
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

/// The wsbench command line equivalent to a library run.
pub(super) fn wsbench_command(cfg: &WsBenchConfig) -> String {
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

/// Where a certstream-compatible server may report skipped entries (`/health/deep`); a server
/// without one only makes the gap check note the report as unavailable.
pub(super) fn health_url(ws_base: &str) -> String {
    let base = ws_base
        .trim_end_matches('/')
        .replacen("wss://", "https://", 1)
        .replacen("ws://", "http://", 1);
    format!("{base}/health/deep")
}

/// Prefix of a server workload's log files: its labels with anything but `[A-Za-z0-9-]` as `_`.
pub(super) fn log_tag(server: &str, workload: &str) -> String {
    format!("{}-{}", sanitize(server), sanitize(workload))
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

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::bench::run::plan::BinPaths;
    use crate::bench::wsbench::GapCheckConfig;

    fn sim() -> SimReady {
        SimReady {
            http_base: "http://127.0.0.1:5".into(),
            log_list_url: "http://127.0.0.1:5/ll.json".into(),
        }
    }

    fn plan() -> BenchPlan {
        let bins = BinPaths {
            sim: "/bin/ctlog-sim".into(),
            raw_fanout: "rf".into(),
            ingest_bench: None,
        };
        BenchPlan::standard(Vec::new(), bins, Path::new("/tmp"))
    }

    fn spec(cmd: &str, ws_url: &str) -> ServerSpec {
        ServerSpec {
            name: "s".into(),
            cmd: cmd.into(),
            ws_url: ws_url.into(),
        }
    }

    #[test]
    fn placeholders_are_filled() {
        let cmd = fill(
            "srv --log-list {log_list_url} --listen 127.0.0.1:{port} --ct {http_base}",
            &sim(),
            9,
            None,
        );
        assert_eq!(cmd, "srv --log-list http://127.0.0.1:5/ll.json --listen 127.0.0.1:9 --ct http://127.0.0.1:5");
    }

    #[test]
    fn the_server_must_be_on_loopback_with_the_plans_scheme() {
        let s = server_command(
            &spec("srv {port}", "ws://127.0.0.1:{port}/"),
            &sim(),
            9,
            None,
        );
        assert_eq!(
            s.unwrap(),
            ServerCommand {
                command: "srv 9".into(),
                ws_base: "ws://127.0.0.1:9".into()
            }
        );
        assert!(server_command(&spec("srv", "ws://10.0.0.1:{port}"), &sim(), 9, None).is_err());
        let tls = TlsFiles {
            ca: "/p/ca.pem".into(),
            cert: "/p/c.pem".into(),
            key: "/p/k.pem".into(),
        };
        let ws = spec(
            "srv --cert {tls_cert} --key {tls_key}",
            "ws://127.0.0.1:{port}",
        );
        assert!(
            server_command(&ws, &sim(), 9, Some(&tls)).is_err(),
            "TLS needs wss"
        );
        let wss = spec(
            "srv --cert {tls_cert} --key {tls_key}",
            "wss://127.0.0.1:{port}",
        );
        let s = server_command(&wss, &sim(), 9, Some(&tls)).unwrap();
        assert_eq!(s.command, "srv --cert /p/c.pem --key /p/k.pem");
    }

    #[test]
    fn ready_lines_are_checked() {
        let ready = parse_sim_ready(
            "{\"http_base\":\"http://127.0.0.1:5\",\"log_list_url\":\"http://127.0.0.1:5/l\"}\n",
        )
        .unwrap();
        assert_eq!(ready.log_list_url, "http://127.0.0.1:5/l");
        assert!(
            parse_sim_ready(r#"{"http_base":"http://10.1.1.1:5","log_list_url":"x"}"#).is_err()
        );
        assert!(parse_sim_ready("listening").is_err());
        assert_eq!(
            parse_fanout_ready(r#"{"listening":"127.0.0.1:7"}"#).unwrap(),
            "127.0.0.1:7"
        );
        assert!(parse_fanout_ready(r#"{"port":7}"#).is_err());
    }

    #[test]
    fn simulator_arguments_follow_the_plan() {
        let mut p = plan();
        assert_eq!(
            sim_args(&p, 3000).unwrap().join(" "),
            "--rfc6962 12 --static 4 --rate 3000 --mix both"
        );
        p.static_logs = 0;
        p.sim_faults = Some("/f.toml".into());
        assert_eq!(
            sim_args(&p, 1).unwrap().join(" "),
            "--rfc6962 12 --static 0 --rate 1 --mix rfc6962 --faults /f.toml"
        );
        p.rfc6962_logs = 0;
        assert!(sim_args(&p, 1).is_err());
    }

    #[test]
    fn raw_fanout_arguments_follow_the_shape() {
        let p = plan();
        assert_eq!(
            raw_fanout_args(&p, FanoutShape::FullSpeed).join(" "),
            "--listen 127.0.0.1:0 --threads 2 --duration 150"
        );
        assert_eq!(
            raw_fanout_args(&p, FanoutShape::Steady).join(" "),
            "--listen 127.0.0.1:0 --threads 2 --duration 150 --rate 1000 --logs 16 --tick-ms 62.5"
        );
    }

    #[test]
    fn wsbench_command_matches_the_library_run() {
        let mut cfg = WsBenchConfig::new("ws://127.0.0.1:9/", 500);
        assert_eq!(
            wsbench_command(&cfg),
            "wsbench --url ws://127.0.0.1:9/ --clients 500 --slow 0 --warmup 10 --duration 60 \
             --threads 2 --connect-concurrency 64"
        );
        cfg.ca_file = Some("/p/ca.pem".into());
        let mut gap = GapCheckConfig::new("http://127.0.0.1:5/sim/state");
        gap.drain_timeout = Duration::from_millis(2500);
        cfg.gap = Some(gap);
        assert!(wsbench_command(&cfg).ends_with(
            " --ca-file /p/ca.pem --sim-state http://127.0.0.1:5/sim/state --drain-timeout 2.5"
        ));
    }

    #[test]
    fn health_urls_and_log_tags() {
        assert_eq!(
            health_url("ws://127.0.0.1:9/"),
            "http://127.0.0.1:9/health/deep"
        );
        assert_eq!(
            health_url("wss://127.0.0.1:9"),
            "https://127.0.0.1:9/health/deep"
        );
        assert_eq!(
            log_tag("certstream", "saturation-500@1500"),
            "certstream-saturation-500_1500"
        );
    }
}
