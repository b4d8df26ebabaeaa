#!/usr/bin/env python3
"""Summarises an hour-long soak run of bench-run (one `steady` workload with --sim-faults).

Usage: soak_report.py RESULTS_JSON [SIM_STATE_JSON] [HEALTH_DEEP_JSON] > soak.md

RSS "after warm-up" is the median of the samples in minutes 10-15 of the server's life; "at the
end" is the median of the last 5 minutes of the measured window. Growth = end / after - 1; the
soak target is growth under 5 %. SIM_STATE_JSON (the simulator's /sim/state, fetched just before
the run ended) gives how often each fault fired; HEALTH_DEEP_JSON (the server's /health/deep at
the same time) gives the skipped-entry counts the server reported.
"""

import json
import statistics
import sys

WARMUP_FROM_S = 600
WARMUP_TO_S = 900
END_SPAN_S = 300
GROWTH_LIMIT = 0.05


def median_rss(samples, lo, hi):
    values = [s["rss"]["rss_kib"] for s in samples if lo <= s["t_s"] < hi]
    return statistics.median(values) if values else None


def rss_section(w):
    samples = w["samples"]
    ws = w["ws"]
    # The measured window ends before the drain; samples run to the server's stop.
    window_end = samples[-1]["t_s"] if samples else 0
    drain = (ws.get("gap_check") or {}).get("drain_s") or 0
    window_end -= drain
    after = median_rss(samples, WARMUP_FROM_S, WARMUP_TO_S)
    end = median_rss(samples, window_end - END_SPAN_S, window_end)
    peak = max((s["rss"]["hwm_kib"] for s in samples), default=0)
    out = ["## Server memory", ""]
    out.append("| minute | RSS MiB (median of the minute) |")
    out.append("|---|---|")
    for minute in range(0, int(window_end // 60) + 1, 5):
        m = median_rss(samples, minute * 60, minute * 60 + 60)
        if m is not None:
            out.append(f"| {minute} | {m / 1024:.1f} |")
    growth = None
    if after and end:
        growth = end / after - 1
        verdict = "flat (target < 5 %)" if growth < GROWTH_LIMIT else "GROWING (target < 5 %)"
        out.append("")
        out.append(
            f"After warm-up (minutes 10-15): **{after / 1024:.1f} MiB**; last 5 minutes: "
            f"**{end / 1024:.1f} MiB**; growth **{growth * 100:+.1f} %**: {verdict}. "
            f"Peak (VmHWM): {peak / 1024:.1f} MiB."
        )
    return out, growth


def loss_section(w):
    ws = w["ws"]
    loss = ws["loss"]
    lat = ws["latency_ms"]
    out = ["## Delivery", ""]
    out.append(
        f"{ws['connected']}/{ws['clients']} clients connected, {ws['delivered_msgs']:,} messages "
        f"({ws['delivered_msgs_per_s']:,.0f}/s) in {ws['duration_s']:.0f} s; latency ms p50 / p99 / "
        f"p99.9 / max: {lat['p50']:.1f} / {lat['p99']:.1f} / {lat['p999']:.1f} / {lat['max']:.1f}."
    )
    out.append(
        f"Loss: clients with loss {loss['clients_with_loss']}, missing {loss['missing_total']}, "
        f"repeated {loss['repeated_total']}, disconnected {loss['clients_disconnected']}; "
        f"wsbench errors {ws['errors_total']}."
    )
    gap = ws.get("gap_check")
    if gap:
        out.append("")
        out.append(f"Gap check (complete: {gap['complete']}, drain {gap['drain_s']:.1f} s):")
        out.append("")
        keys = [k for k in gap["logs"][0].keys() if k != "url"] if gap["logs"] else []
        out.append("| log | " + " | ".join(keys) + " |")
        out.append("|---|" + "---|" * len(keys))
        for log in gap["logs"]:
            out.append(f"| {log['url']} | " + " | ".join(str(log[k]) for k in keys) + " |")
    out.append("")
    out.append(f"bench-run verdict: {'passed' if w['passed'] else 'FAILED'} {w['failures']}")
    return out


def faults_section(sim_state):
    out = ["## Faults injected", "", "| rule | logs | endpoint | fault | fired |", "|---|---|---|---|---|"]
    for f in sim_state.get("faults", []):
        out.append(f"| {f['rule']} | {f['logs']} | {f['endpoint']} | {f['fault']} | {f['fired']} |")
    corrupt = sim_state.get("corrupt")
    if corrupt:
        out.append("")
        out.append(f"Persistent corruptions: `{json.dumps(corrupt)[:600]}`")
    return out


def skipped_section(health):
    out = ["## Entries the server skipped (reported, never delivered)", ""]
    total = 0
    for log in health.get("logs", []):
        n = log.get("entries_skipped", 0)
        total += n
        if n:
            idx = [e["index"] for e in log.get("skipped_recent", [])]
            out.append(f"- {log.get('url')}: {n} skipped, latest indices {idx[-8:]}")
    out.append(f"- total: {total}")
    return out


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    res = json.load(open(sys.argv[1]))
    w = res["workloads"][0]
    m = res["machine"]
    lines = [
        f"# Soak: {w['name']} with faults, {w['ws']['duration_s'] / 60:.0f} minutes",
        "",
        f"- Machine: {m['cpu_model']} ({m['cores']} cores), kernel {m['kernel']}",
        f"- Commit: {res['commit']}{' (dirty)' if res['commit_dirty'] else ''}",
        f"- Command: `{' '.join(res['invocation'])}`",
        "- Processes:",
    ] + [f"  - `{c}`" for c in w["commands"]] + [""]
    mem, growth = rss_section(w)
    lines += mem + [""] + loss_section(w) + [""]
    if len(sys.argv) > 2:
        lines += faults_section(json.load(open(sys.argv[2]))) + [""]
    if len(sys.argv) > 3:
        lines += skipped_section(json.load(open(sys.argv[3]))) + [""]
    print("\n".join(lines))
    ok = w["passed"] and growth is not None and growth < GROWTH_LIMIT
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
