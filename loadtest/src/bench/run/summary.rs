//! Output: results.json (the serialized [`RunResults`]) and summary.md, the markdown summary
//! benchmark.md asks for (machine, commit, exact commands, figures, verdicts). The summary is
//! rendered from the results alone, so a committed results.json renders its summary again.

use super::results::{RunResults, WorkloadResult};
use crate::bench::sys;

/// Writes results.json and summary.md into the run's directory.
pub(super) fn write_results(res: &RunResults) -> anyhow::Result<()> {
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
    let base = res
        .raw_fanout
        .as_ref()
        .map(|f| f.ws.delivered_msgs_per_s)
        .filter(|b| *b > 0.0);
    let mut s = header_md(res);
    s.push_str(&baselines_md(res));
    s.push_str(&workloads_md(res, base));
    s.push_str(CHARTS_MD);
    s.push_str(&ingest_md(res));
    s.push_str(&commands_md(res));
    s.push_str(&errors_md(res));
    s
}

/// The pictures `charts` draws beside summary.md.
const CHARTS_MD: &str = "\n## Charts\n\n![Delivered messages/s vs R](throughput.svg)\n\n\
![Latency percentiles per workload](latency.svg)\n";

/// Title, machine, host settings, commit, command line, and the TLS note.
fn header_md(res: &RunResults) -> String {
    let m = &res.machine;
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
    s
}

/// raw-fanout at full speed and at the steady shape.
fn baselines_md(res: &RunResults) -> String {
    let mut s = String::new();
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
    s
}

/// The table of every server workload and saturation step, then each search's outcome.
fn workloads_md(res: &RunResults, base: Option<f64>) -> String {
    let mut s = String::new();
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
    s
}

fn ingest_md(res: &RunResults) -> String {
    let mut s = String::new();
    if let Some(i) = &res.ingest {
        s.push_str("\n## ingest\n\n");
        match (&i.output, &i.text, i.available) {
            (_, _, false) => s.push_str("not available (no ingest-bench binary)\n"),
            (Some(j), _, _) => s.push_str(&format!("```json\n{j}\n```\n")),
            (None, Some(t), _) => s.push_str(&format!("```\n{t}\n```\n")),
            (None, None, _) => s.push_str("no output\n"),
        }
    }
    s
}

/// Every child's exact command, by workload.
fn commands_md(res: &RunResults) -> String {
    let mut s = String::new();
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
    s
}

fn errors_md(res: &RunResults) -> String {
    let mut s = String::new();
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
    use std::path::Path;

    use super::super::judge::ratios;
    use super::super::plan::{BenchPlan, BinPaths, TlsFiles};
    use super::super::results::fixtures::{good_ws, result_with, run_results};
    use super::super::results::{FanoutResult, IngestResult};
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
            out_dir: "/tmp".into(),
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

    #[test]
    fn summary_notes_tls_dirty_trees_ingest_text_and_errors() {
        let mut res = run_results();
        res.commit_dirty = true;
        res.plan.tls = Some(TlsFiles {
            ca: "/p/ca.pem".into(),
            cert: "/p/c".into(),
            key: "/p/k".into(),
        });
        res.ingest = Some(IngestResult {
            available: true,
            output: None,
            text: Some("no JSON here".into()),
            command: Some("ib".into()),
        });
        res.errors = vec!["s steady-20: starting ctlog-sim".into()];
        let md = summary_md(&res);
        assert!(
            md.starts_with(
                "# Benchmark 1970-01-01\n\n- Machine: Test CPU (2 cores, 1024 MiB), kernel 6.0\n\
             - Host settings: somaxconn=4096\n- Commit: abc (with uncommitted changes)\n\
             - Command: `bench-run`\n\nClients connect over TLS"
            ),
            "{md}"
        );
        assert!(
            md.contains("\n## ingest\n\n```\nno JSON here\n```\n"),
            "{md}"
        );
        assert!(
            md.ends_with("```\n\n## Errors\n\n- s steady-20: starting ctlog-sim\n"),
            "{md}"
        );
        assert!(!md.contains("## raw-fanout"), "no baseline was run");
    }

    #[test]
    fn a_failed_row_says_why_and_missing_figures_are_dashes() {
        let mut w = result_with(good_ws(), "slow-2");
        w.failures = vec!["server died: exit 1".into(), "no messages delivered".into()];
        w.rss_idle_kib = Some(2048);
        let row = workload_row(&w, None);
        assert!(
            row.starts_with("| s | slow-2 | 1000 | - | 0 | - |"),
            "{row}"
        );
        assert!(row.contains("| 2.0 / - / - |"), "{row}");
        assert!(
            row.ends_with("| FAIL: server died: exit 1; no messages delivered |\n"),
            "{row}"
        );
    }
}
