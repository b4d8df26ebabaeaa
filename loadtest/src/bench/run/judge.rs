//! Judging: benchmark.md's verdicts on what was measured. [`judge`] applies the pass rules to
//! one workload, [`record_saturation_step`] decides where the saturation search stops and
//! which rate held, and [`ratios`] gives every server figure as a fraction of raw-fanout's.
//! Pure: results in, verdicts out.

use std::time::Duration;

use super::results::{Ratio, RunResults, SaturationResult, WorkloadResult};
use crate::bench::limits::SATURATION_P99_MS_MAX;
use crate::bench::wsbench::GapReport;

/// benchmark.md's pass rules.
pub(super) fn judge(r: &mut WorkloadResult, died: Option<String>) {
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
    if let Some(g) = ws.gap_check.as_ref().filter(|g| !g.complete) {
        f.push(gap_check_failure(g));
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

fn gap_check_failure(g: &GapReport) -> String {
    let missing: u64 = g.logs.iter().map(|l| l.missing).sum();
    let never: usize = g.logs.iter().map(|l| l.clients_never_seen).sum();
    let corrupt: u64 = g.logs.iter().map(|l| l.delivered_but_skip_expected).sum();
    let unreported: usize = g
        .logs
        .iter()
        .filter_map(|l| l.server.as_ref())
        .map(|s| s.unreported.len() + s.unexpected.len())
        .sum();
    format!(
        "gap check incomplete: {missing} indexes missing, \
         {never} client×log pairs never received, {corrupt} corrupted entries \
         delivered, {unreported} skips misreported by the server"
    )
}

/// A saturation search for `server` that has not run a step yet.
pub(super) fn new_saturation(server: &str) -> SaturationResult {
    SaturationResult {
        server: server.to_string(),
        steps: Vec::new(),
        best_rate: None,
        best_delivered_msgs_per_s: None,
        stopped_because: "all rates held".into(),
    }
}

/// Adds a judged step to the search; returns whether the search goes on to the next rate.
/// It stops at the first step that failed, or that the simulator could not feed at 80 % of
/// its rate (measured over a window of `sat_window`).
pub(super) fn record_saturation_step(
    out: &mut SaturationResult,
    step: WorkloadResult,
    sat_window: Duration,
) -> bool {
    let rate = step.rate;
    let held = step.passed;
    // Tree sizes are published once a second, so the measured rate is only trusted over
    // windows of 10 s or more (quick runs would otherwise stop at the first step).
    let sim_limited = sat_window >= Duration::from_secs(10)
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
    match reason {
        Some(r) => {
            out.stopped_because = r;
            false
        }
        None => true,
    }
}

/// Every server figure as a fraction of raw-fanout's delivered rate (none without a baseline).
pub(super) fn ratios(res: &RunResults) -> Vec<Ratio> {
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

#[cfg(test)]
mod tests {
    use super::super::results::fixtures::{good_ws, result_with};
    use super::super::results::FanoutResult;
    use super::*;

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
    fn judge_names_every_broken_rule() {
        let mut ws = good_ws();
        ws.connected = 3;
        ws.connect_failed = 1;
        ws.loss.clients_disconnected = 2;
        ws.loss.repeated_total = 1;
        ws.delivered_msgs = 0;
        ws.gap_check = Some(crate::bench::wsbench::GapReport::default());
        let mut r = result_with(ws, "full-4");
        judge(&mut r, None);
        assert_eq!(
            r.failures,
            [
                "1 of 4 clients failed to connect",
                "2 reading clients were disconnected",
                "1 repeated and 0 out-of-order messages",
                "gap check incomplete: 0 indexes missing, 0 client×log pairs never received, \
                 0 corrupted entries delivered, 0 skips misreported by the server",
                "no messages delivered",
            ]
        );
    }

    fn step(rate: u64, passed: bool, rate_actual: Option<f64>, delivered: f64) -> WorkloadResult {
        let mut ws = good_ws();
        ws.delivered_msgs_per_s = delivered;
        let mut r = result_with(ws, &format!("saturation-4@{rate}"));
        r.rate = rate;
        r.passed = passed;
        r.rate_actual = rate_actual;
        if !passed {
            r.failures = vec!["p99 150.0 ms > 100 ms".into()];
        }
        r
    }

    #[test]
    fn saturation_stops_at_the_first_failed_step() {
        let window = Duration::from_secs(20);
        let mut s = new_saturation("srv");
        assert!(record_saturation_step(
            &mut s,
            step(1000, true, Some(1000.0), 500.0),
            window
        ));
        assert!(record_saturation_step(
            &mut s,
            step(2000, true, Some(1990.0), 900.0),
            window
        ));
        assert!(!record_saturation_step(
            &mut s,
            step(3000, false, Some(3000.0), 950.0),
            window
        ));
        assert_eq!(
            (s.best_rate, s.best_delivered_msgs_per_s),
            (Some(2000), Some(900.0))
        );
        assert_eq!(s.stopped_because, "R=3000 failed: p99 150.0 ms > 100 ms");
        assert_eq!(s.steps.len(), 3);
        assert_eq!(new_saturation("srv").stopped_because, "all rates held");
    }

    #[test]
    fn saturation_stops_when_the_simulator_cannot_keep_up() {
        let mut s = new_saturation("srv");
        let starved = step(8000, true, Some(5000.0), 900.0);
        assert!(!record_saturation_step(
            &mut s,
            starved.clone(),
            Duration::from_secs(10)
        ));
        assert_eq!(s.best_rate, Some(8000), "the step held");
        assert_eq!(
            s.stopped_because,
            "R=8000: the simulator produced only 5000/s"
        );
        // Under 10 s windows the measured rate is not trusted.
        let mut quick = new_saturation("srv");
        assert!(record_saturation_step(
            &mut quick,
            starved,
            Duration::from_secs(2)
        ));
    }

    #[test]
    fn ratios_divide_by_the_baseline() {
        let mut res = super::super::results::fixtures::run_results();
        assert!(ratios(&res).is_empty(), "no baseline, no ratios");
        let mut base = good_ws();
        base.delivered_msgs_per_s = 1000.0;
        res.raw_fanout = Some(FanoutResult {
            ws: base,
            sender_cpu_pct: None,
            commands: Vec::new(),
        });
        let mut ws = good_ws();
        ws.delivered_msgs_per_s = 250.0;
        res.workloads.push(result_with(ws, "steady-4"));
        let mut sat = new_saturation("s");
        sat.best_rate = Some(4000);
        sat.best_delivered_msgs_per_s = Some(500.0);
        res.saturation.push(sat);
        let got: Vec<_> = ratios(&res)
            .iter()
            .map(|r| (r.workload.clone(), r.fraction_of_raw_fanout))
            .collect();
        assert_eq!(
            got,
            [
                ("steady-4".to_string(), 0.25),
                ("saturation@4000".into(), 0.5)
            ]
        );
    }
}
