#!/usr/bin/env python3
"""Turns the libFuzzer logs of run.sh (loadtest/fuzz/logs/<target>.log) into results.json:
per target the run time, executions, exec/s, coverage (cov/ft) at start and end, corpus size,
peak RSS and any crash, timeout or OOM reported.

    loadtest/fuzz/summarize.py OUT.json [LOGS_DIR]
"""
import json
import pathlib
import re
import sys

LOGS = pathlib.Path(__file__).resolve().parent / "logs"
STATUS = re.compile(r"^#(\d+)\s+(INITED|DONE|NEW|REDUCE|pulse|RELOAD)\s+cov: (\d+) ft: (\d+) corp: (\d+)/(\S+)")
STAT = re.compile(r"^stat::(\w+):\s+(\d+)")
DONE = re.compile(r"^Done (\d+) runs in (\d+) second")
FINDING = re.compile(r"(ERROR: libFuzzer: \w[\w-]*|==\d+==ERROR: \w+Sanitizer: [\w-]+|panicked at .*|Test unit written to \S+)")


def summarize(log: pathlib.Path) -> dict:
    inited = last = None
    stats, findings = {}, []
    command = None
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("Running: ") or "Running `" in line:
            command = command or line.strip()
        m = STATUS.match(line)
        if m:
            status = {"execs": int(m[1]), "cov": int(m[3]), "ft": int(m[4]),
                      "corpus_units": int(m[5]), "corpus_size": m[6]}
            if m[2] == "INITED" and inited is None:
                inited = status
            last = status
        m = DONE.match(line)
        if m:
            stats["total_time_s"] = int(m[2])
        m = STAT.match(line)
        if m:
            stats[m[1]] = int(m[2])
        m = FINDING.search(line)
        if m:
            findings.append(m[1])
    return {
        "target": log.stem,
        "total_time_s": stats.get("total_time_s") or None,
        "executions": stats.get("number_of_executed_units"),
        "exec_per_sec": stats.get("average_exec_per_sec"),
        "new_units_added": stats.get("new_units_added"),
        "peak_rss_mb": stats.get("peak_rss_mb"),
        "slowest_unit_time_sec": stats.get("slowest_unit_time_sec"),
        "start": inited,
        "end": last,
        "findings": findings,
    }


def main() -> None:
    logs = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else LOGS
    results = [summarize(log) for log in sorted(logs.glob("*.log"))]
    out = pathlib.Path(sys.argv[1])
    out.write_text(json.dumps(results, indent=2) + "\n")
    for r in results:
        end = r["end"] or {}
        print(f'{r["target"]:<22} execs {r["executions"]} ({r["exec_per_sec"]}/s) '
              f'cov {end.get("cov")} ft {end.get("ft")} corp {end.get("corpus_units")}/{end.get("corpus_size")} '
              f'findings {len(r["findings"])}')


if __name__ == "__main__":
    main()
