//! Pictures of a run, drawn from [`RunResults`] alone (so a committed results.json can be
//! drawn again: `bench-run --charts-from DIR/results.json`), as SVG next to summary.md:
//!
//! - `throughput.svg`: delivered msgs/s against the ingest rate R, one line per server (its
//!   saturation steps and steady-500), the offered load (R × clients: every message
//!   delivered) and the raw fan-out baseline of the same run;
//! - `latency.svg`: p50, p99 and p99.9 latency of every workload, with the raw sender's
//!   steady-shape floor first.
//!
//! plotters' SVG backend without a font library: labels are `<text>` elements the viewer
//! renders, so nothing here reads a font file.

use std::path::{Path, PathBuf};

use anyhow::Context;
use plotters::prelude::*;

use super::results::{RunResults, WorkloadResult};

const WIDTH: u32 = 900;
const HEIGHT: u32 = 520;
const PALETTE: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];
const GREY: RGBColor = RGBColor(140, 140, 140);
const ORANGE: RGBColor = RGBColor(255, 127, 14);

/// Draws both charts into `dir`; returns the files written.
pub fn draw(res: &RunResults, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let throughput = dir.join("throughput.svg");
    draw_throughput(res, &throughput).context("drawing throughput.svg")?;
    let latency = dir.join("latency.svg");
    draw_latency(res, &latency).context("drawing latency.svg")?;
    Ok(vec![throughput, latency])
}

/// Reads `results_json` and draws its charts beside it.
pub fn draw_from_file(results_json: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string(results_json)
        .with_context(|| format!("reading {}", results_json.display()))?;
    let res: RunResults = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a bench-run results.json", results_json.display()))?;
    let dir = results_json.parent().unwrap_or(Path::new("."));
    draw(&res, dir)
}

/// One measured point: R, delivered msgs/s, and whether the step passed.
type Point = (f64, f64, bool);

/// Each server's points: its saturation steps and its steady-500.
fn throughput_points(res: &RunResults) -> Vec<(String, Vec<Point>)> {
    let mut servers: Vec<(String, Vec<Point>)> = Vec::new();
    let point = |w: &WorkloadResult| (w.rate as f64, w.ws.delivered_msgs_per_s, w.passed);
    let steady = res.workloads.iter().filter(|w| w.name == "steady-500");
    let steps = res.saturation.iter().flat_map(|s| s.steps.iter());
    for w in steady.chain(steps) {
        match servers.iter_mut().find(|(name, _)| *name == w.server) {
            Some((_, points)) => points.push(point(w)),
            None => servers.push((w.server.clone(), vec![point(w)])),
        }
    }
    for (_, points) in &mut servers {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        // steady-500 and saturation@1000 share a rate: keep one point per R.
        points.dedup_by(|a, b| a.0 == b.0);
    }
    servers
}

fn draw_throughput(res: &RunResults, path: &Path) -> anyhow::Result<()> {
    let servers = throughput_points(res);
    let raw = res.raw_fanout.as_ref().map(|r| r.ws.delivered_msgs_per_s);
    let clients = res.plan.clients as f64;
    let max_rate = servers
        .iter()
        .flat_map(|(_, p)| p.iter().map(|p| p.0))
        .fold(res.plan.rate as f64, f64::max);
    let max_y = servers
        .iter()
        .flat_map(|(_, p)| p.iter().map(|p| p.1))
        .chain(raw)
        .fold(1.0, f64::max)
        * 1.15
        / 1e6;
    let root = SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Delivered messages/s vs ingest rate R ({clients} clients)"),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..max_rate * 1.05, 0.0..max_y)?;
    chart
        .configure_mesh()
        .x_desc("R: new certificates per second")
        .x_label_formatter(&|r| format!("{r:.0}"))
        .y_label_formatter(&|m| format!("{m:.1}"))
        .y_desc("delivered messages/s (millions)")
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    let offered = [
        (0.0, 0.0),
        (max_rate * 1.05, max_rate * 1.05 * clients / 1e6),
    ];
    chart
        .draw_series(LineSeries::new(offered, GREY.stroke_width(1)))?
        .label("offered: R × clients (nothing lost)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], GREY));
    if let Some(raw) = raw {
        let line = [(0.0, raw / 1e6), (max_rate * 1.05, raw / 1e6)];
        chart
            .draw_series(DashedLineSeries::new(line, 6, 4, ORANGE.stroke_width(2)))?
            .label(format!("raw fan-out, flat out: {:.2} M/s", raw / 1e6))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], ORANGE.stroke_width(2)));
    }
    for (i, (server, points)) in servers.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let line = points.iter().map(|&(r, d, _)| (r, d / 1e6));
        chart
            .draw_series(LineSeries::new(line, color.stroke_width(2)))?
            .label(format!("{server} (hollow: step failed p99 or loss)"))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
        chart.draw_series(points.iter().map(|&(r, d, passed)| {
            let style = if passed {
                color.filled()
            } else {
                color.stroke_width(2)
            };
            Circle::new((r, d / 1e6), 5, style)
        }))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(GREY)
        .draw()?;
    root.present()?;
    Ok(())
}

/// (label, p50, p99, p99.9) in ms: the raw sender's steady-shape floor, then every workload.
fn latency_rows(res: &RunResults) -> Vec<(String, [f64; 3])> {
    let pct = |l: &crate::bench::wsbench::MsSummary| [l.p50, l.p99, l.p999];
    let mut rows = Vec::new();
    if let Some(floor) = &res.raw_steady {
        rows.push(("raw floor".to_owned(), pct(&floor.ws.latency_ms)));
    }
    let several_servers = res.plan.servers.len() > 1;
    let steps = res.saturation.iter().flat_map(|s| s.steps.iter());
    for w in res.workloads.iter().chain(steps) {
        let name = w.name.replace("saturation-500@", "sat R=");
        let label = if several_servers {
            format!("{}: {name}", w.server)
        } else {
            name
        };
        rows.push((label, pct(&w.ws.latency_ms)));
    }
    rows
}

fn draw_latency(res: &RunResults, path: &Path) -> anyhow::Result<()> {
    let rows = latency_rows(res);
    let n = rows.len().max(2);
    let max_y = rows
        .iter()
        .flat_map(|(_, p)| p.iter().copied())
        .fold(1.0, f64::max)
        * 1.1;
    let root = SVGBackend::new(path, (WIDTH.max(90 * n as u32), HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Latency per workload (ms)", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(50)
        // An integer range's coordinates include its end: 0..n-1 gives n segments.
        .build_cartesian_2d((0..n - 1).into_segmented(), 0.0..max_y)?;
    let labels: Vec<String> = rows.iter().map(|(l, _)| l.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .y_desc("milliseconds")
        .y_label_formatter(&|ms| format!("{ms:.0}"))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    // Three bars side by side in each workload's segment: margins in pixels.
    let segment_px = chart.plotting_area().dim_in_pixel().0 / n as u32;
    let pad = segment_px / 8;
    let bar_px = segment_px.saturating_sub(2 * pad) / 3;
    for (k, name) in ["p50", "p99", "p99.9"].iter().enumerate() {
        let color = PALETTE[k];
        let (left, right) = (pad + k as u32 * bar_px, pad + (2 - k as u32) * bar_px);
        let bars = rows.iter().enumerate().map(move |(i, (_, p))| {
            let corners = [
                (SegmentValue::Exact(i), 0.0),
                (SegmentValue::Exact(i + 1), p[k]),
            ];
            let mut bar = Rectangle::new(corners, color.filled());
            bar.set_margin(0, 0, left, right);
            bar
        });
        chart
            .draw_series(bars)?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(GREY)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_committed_run_is_drawn_with_every_workload_and_the_baseline() {
        let committed = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../bench-results/2026-12-02-9b6dcf6d26/results.json");
        let dir = std::env::temp_dir().join(format!("bench-charts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let copy = dir.join("results.json");
        std::fs::copy(&committed, &copy).unwrap();
        let files = draw_from_file(&copy).unwrap();
        assert_eq!(files, [dir.join("throughput.svg"), dir.join("latency.svg")]);
        let throughput = std::fs::read_to_string(&files[0]).unwrap();
        assert!(throughput.starts_with("<svg"), "{throughput:.100}");
        assert!(throughput.contains("raw fan-out, flat out: 2.50 M/s"));
        assert!(throughput.contains("certstream"));
        let latency = std::fs::read_to_string(&files[1]).unwrap();
        for label in [
            "raw floor",
            "steady-500",
            "full-100",
            "slow-10",
            "sat R=2500",
        ] {
            assert!(latency.contains(label), "{label}");
        }
        assert!(draw_from_file(&dir.join("missing.json")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
