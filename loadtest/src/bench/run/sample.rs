//! Sampling: what bench-run measures about the processes besides the clients. A [`Sampler`]
//! thread reads the server's RSS and CPU from /proc at 1 Hz; at the start and end of the
//! measured window wsbench's phase hook records a [`WindowMark`] (server CPU, the simulator's
//! summed tree sizes). [`window_figures`] turns both into the workload's CPU %, actual ingest
//! rate and steady RSS; [`sender_cpu_pct`] does the same for raw-fanout. The arithmetic is
//! pure; only the sampler and the hooks read /proc and `/sim/state`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::results::{Sample, WorkloadResult};
use crate::bench::limits::RESOURCE_SAMPLES_MAX;
use crate::bench::sys;
use crate::bench::wsbench::{self, Phase};

/// Samples a PID's RSS and CPU at 1 Hz until dropped.
pub(super) struct Sampler {
    pub(super) started: Instant,
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    pub(super) fn start(pid: u32) -> Self {
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

    pub(super) fn finish(mut self) -> Vec<Sample> {
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

/// Sum of the simulator's tree sizes.
pub(super) fn sim_total(state_url: &str) -> Option<u64> {
    wsbench::fetch_targets(state_url)
        .ok()
        .map(|t| t.iter().map(|t| t.size).sum())
}

/// What the phase hook observed as a phase started.
#[derive(Debug, Clone, Copy)]
pub(super) struct WindowMark {
    pub(super) phase: Phase,
    pub(super) at: Instant,
    /// The server's cumulative CPU.
    pub(super) server_cpu: Option<Duration>,
    /// The simulator's summed tree sizes.
    pub(super) sim_total: Option<u64>,
}

/// The marks of one run (Measuring and Draining: the window's ends).
#[derive(Default)]
pub(super) struct WindowMarks {
    pub(super) marks: Vec<WindowMark>,
}

impl WindowMarks {
    fn at(&self, p: Phase) -> Option<&WindowMark> {
        self.marks.iter().find(|m| m.phase == p)
    }
}

/// CPU time over a wall-clock span, percent of one core.
fn cpu_pct(cpu: Duration, wall_secs: f64) -> f64 {
    cpu.as_secs_f64() / wall_secs * 100.0
}

/// CPU, actual rate and steady RSS from the window marks.
pub(super) fn window_figures(r: &mut WorkloadResult, marks: &WindowMarks, sampler_t0: Instant) {
    let (Some(a), Some(b)) = (marks.at(Phase::Measuring), marks.at(Phase::Draining)) else {
        return;
    };
    let secs = b.at.duration_since(a.at).as_secs_f64().max(1e-9);
    if let (Some(c0), Some(c1)) = (a.server_cpu, b.server_cpu) {
        r.server_cpu_pct = Some(cpu_pct(c1.saturating_sub(c0), secs));
    }
    if let (Some(t0), Some(t1)) = (a.sim_total, b.sim_total) {
        r.rate_actual = Some(t1.saturating_sub(t0) as f64 / secs);
    }
    // Samples are timed from the sampler start; keep those taken inside the window.
    let w0 = a.at.saturating_duration_since(sampler_t0).as_secs_f64();
    let w1 = b.at.saturating_duration_since(sampler_t0).as_secs_f64();
    let mut rss: Vec<u64> = r
        .samples
        .iter()
        .filter(|s| s.t_s >= w0 && s.t_s <= w1)
        .map(|s| s.rss.rss_kib)
        .collect();
    rss.sort_unstable();
    r.rss_steady_kib = rss.get(rss.len() / 2).copied();
}

/// raw-fanout's CPU over the window from the sender's CPU at its two ends.
pub(super) fn sender_cpu_pct(ends: &[(Instant, Option<Duration>)]) -> Option<f64> {
    match ends {
        [(t0, Some(c0)), (t1, Some(c1))] => Some(cpu_pct(
            c1.saturating_sub(*c0),
            t1.duration_since(*t0).as_secs_f64().max(1e-9),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::sys::Rss;
    use crate::bench::wsbench::WsBenchReport;

    fn result_with_samples(samples: &[(f64, u64)]) -> WorkloadResult {
        WorkloadResult {
            name: "steady-4".into(),
            server: "s".into(),
            rate: 1000,
            rate_actual: None,
            ws: WsBenchReport::default(),
            server_cpu_pct: None,
            rss_idle_kib: None,
            rss_steady_kib: None,
            rss_peak_kib: None,
            samples: samples
                .iter()
                .map(|&(t_s, rss_kib)| Sample {
                    t_s,
                    rss: Rss {
                        rss_kib,
                        hwm_kib: rss_kib,
                    },
                    cpu_s: 0.0,
                })
                .collect(),
            passed: false,
            failures: Vec::new(),
            commands: Vec::new(),
        }
    }

    #[test]
    fn window_figures_come_from_the_window_only() {
        let t0 = Instant::now();
        let mark = |phase, after_s: u64, cpu_ms: u64, total: u64| WindowMark {
            phase,
            at: t0 + Duration::from_secs(after_s),
            server_cpu: Some(Duration::from_millis(cpu_ms)),
            sim_total: Some(total),
        };
        let marks = WindowMarks {
            marks: vec![
                mark(Phase::Measuring, 10, 1_000, 5_000),
                mark(Phase::Draining, 20, 3_500, 15_000),
            ],
        };
        // Idle and warm-up samples (t < 10) and drain samples (t > 20) are left out.
        let mut r = result_with_samples(&[
            (1.0, 10),
            (9.0, 500),
            (11.0, 30),
            (15.0, 20),
            (19.0, 40),
            (21.0, 900),
        ]);
        window_figures(&mut r, &marks, t0);
        assert_eq!(r.server_cpu_pct, Some(25.0));
        assert_eq!(r.rate_actual, Some(1000.0));
        assert_eq!(r.rss_steady_kib, Some(30), "the median of 20, 30, 40");
    }

    #[test]
    fn no_window_no_figures() {
        let marks = WindowMarks {
            marks: vec![WindowMark {
                phase: Phase::Measuring,
                at: Instant::now(),
                server_cpu: None,
                sim_total: None,
            }],
        };
        let mut r = result_with_samples(&[(1.0, 10)]);
        window_figures(&mut r, &marks, Instant::now());
        assert_eq!(
            (r.server_cpu_pct, r.rate_actual, r.rss_steady_kib),
            (None, None, None)
        );
    }

    #[test]
    fn sender_cpu_needs_both_ends() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(4);
        let cpu = |ms| Some(Duration::from_millis(ms));
        assert_eq!(
            sender_cpu_pct(&[(t0, cpu(0)), (t1, cpu(2_000))]),
            Some(50.0)
        );
        assert_eq!(sender_cpu_pct(&[(t0, cpu(0)), (t1, None)]), None);
        assert_eq!(sender_cpu_pct(&[(t0, cpu(0))]), None);
    }
}
