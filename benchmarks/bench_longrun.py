"""Long runs (issue 10): parent memory and verdict time at 10^4, 10^6 and 10^7 heartbeats,
and the record reader's CPU at 20,000 heartbeats a second.

A plain child (benchmarks/children/longrun_child.py, no mlx) writes step records of a real
heartbeat's shape, packed as the probe's writer packs fast steps (or, for comparison, a line a
step), pre-built in blocks and written with one `os.write` each, either as fast as
the parent reads them (the parent is the bottleneck: the heartbeat rate is the parent's
reading speed) or paced at a given rate. Each run is watched by `runner.run` in a fresh
Python process (this file with `--beats N`), so its peak RSS (VmHWM) is the parent's own;
that process then times `classify` and the report entry on what was kept, and prints one JSON
line. The reader's CPU is its thread's own time (`bench_sampler.TimedReader`) over the time
the heartbeats arrived in.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from bench_common import CHILDREN, REPO, Section, Target

SIZES = (10_000, 1_000_000, 10_000_000)
QUICK_SIZES = (10_000, 100_000)
RATE = 20_000  # heartbeats a second for the reader's CPU
RATE_SECONDS = 20
RSS_GOAL_MB, VERDICT_GOAL_S, READER_GOAL = 100.0, 1.0, 0.05


def status_mb(field: str) -> float:
    """A VmXXX line of /proc/self/status in MB (0 where there is none)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(beats: int, rate: float, packed: bool = True) -> dict:
    """One watched run of the child in this process, then the verdict on what was kept."""
    import bench_sampler

    from mlxprobe.judging.verdict import classify
    from mlxprobe.launching import catalog
    from mlxprobe.launching.spec import spec_for
    from mlxprobe.results import report
    from mlxprobe.watching import runner

    scenario = catalog.load_file(CHILDREN / "longrun_child.py")
    spec = replace(spec_for(scenario, "flood"),
                   env=(("BENCH_BEATS", str(beats)), ("BENCH_RATE", str(rate)),
                        ("BENCH_PACKED", "1" if packed else "0")))
    made: dict = {}
    rss_before = status_mb("VmRSS")
    with bench_sampler.timed_threads("now", made):
        raw = runner.run(spec.launch)
    started = time.perf_counter()
    verdict = classify(raw, spec.meta)
    verdict_s = time.perf_counter() - started
    started = time.perf_counter()
    report.run_entry(spec, raw, verdict)
    entry_s = time.perf_counter() - started
    steps = raw.steps
    arriving = steps[-1]["t"] - steps[0]["t"] if len(steps) > 1 else raw.wall_s
    notes = raw.of_kind("note")
    return {"beats": raw.step_count, "packed": packed, "wall_s": raw.wall_s,
            "arriving_s": arriving,
            "rate": raw.step_count / max(arriving, 1e-9), "wanted_rate": rate,
            "child_s": notes[-1].get("info", {}).get("child_s") if notes else None,
            "rss_before_mb": rss_before, "peak_rss_mb": status_mb("VmHWM"),
            "rss_mb": status_mb("VmRSS"), "records_kept": len(raw.records),
            "steps_kept": len(steps), "samples_kept": len(raw.samples),
            "verdict": verdict.label, "verdict_s": verdict_s, "entry_s": entry_s,
            "reader_cpu_s": made["reader"].cpu_s,
            "reader_share": made["reader"].cpu_s / max(arriving, 1e-9),
            "us_per_beat": 1e6 * made["reader"].cpu_s / max(raw.step_count, 1)}


def one(beats: int, rate: float = 0.0, packed: bool = True) -> dict:
    """`measure` in a fresh process: its peak RSS is that run's alone."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    done = subprocess.run([sys.executable, __file__, "--beats", str(beats), "--rate",
                           str(rate), *([] if packed else ["--unpacked"])],
                          capture_output=True, text=True, env=env,
                          cwd=Path(__file__).parent, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"long-run worker failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(args) -> Section:  # noqa: ANN001 - argparse.Namespace
    sizes = QUICK_SIZES if args.quick else SIZES
    seconds = 5 if args.quick else RATE_SECONDS
    runs = []
    for beats in sizes:
        print(f"  {beats} heartbeats as fast as the parent reads ...", flush=True)
        runs.append(one(beats))
    print(f"  {RATE * seconds} heartbeats at {RATE}/s, a line a step ...", flush=True)
    unpacked = one(RATE * seconds, RATE, packed=False)
    print(f"  {RATE * seconds} heartbeats at {RATE}/s, packed as the writer packs them ...",
          flush=True)
    paced = one(RATE * seconds, RATE)
    return _section(runs, paced, unpacked)


def _row(r: dict) -> list[str]:
    return [f"{r['beats']:,}", "packed" if r["packed"] else "a line a step",
            f"{r['rate'] / 1000:.1f}k", f"{r['wall_s']:.1f}",
            f"{r['rss_before_mb']:.0f}", f"{r['peak_rss_mb']:.0f}", f"{r['records_kept']:,}",
            f"{r['samples_kept']:,}", f"{r['verdict_s']:.3f}", f"{r['entry_s']:.3f}",
            f"{r['us_per_beat']:.1f}", r["verdict"]]


def _section(runs: list[dict], paced: dict, unpacked: dict) -> Section:
    section = Section("longrun", "6. Long runs: a plain child's heartbeats watched by the "
                      "parent (fresh parent process per run)",
                      ["heartbeats", "lines", "read/s", "wall s", "parent MB before",
                       "parent peak MB",
                       "records kept", "samples kept", "verdict s", "report entry s",
                       "reader us/beat", "verdict"])
    section.rows = [_row(r) for r in [*runs, unpacked, paced]]
    largest = runs[-1]
    kept_up = paced["rate"] >= 0.95 * paced["wanted_rate"]
    section.notes = [
        f"largest run: {largest['beats']:,} heartbeats in {largest['wall_s']:.0f} s "
        f"({largest['rate']:,.0f}/s: the parent reads as fast as it can)",
        f"paced run: asked {paced['wanted_rate']:,.0f}/s, got {paced['rate']:,.0f}/s over "
        f"{paced['arriving_s']:.1f} s; reader thread {paced['reader_share']:.1%} of a core "
        f"({paced['us_per_beat']:.1f} us a heartbeat)",
        f"the same with a line a step (how a probe wrote before it packed): "
        f"{unpacked['rate']:,.0f}/s, reader {unpacked['reader_share']:.1%} of a core "
        f"({unpacked['us_per_beat']:.1f} us a heartbeat)"]
    section.targets = [
        Target("6. parent memory", f"{largest['peak_rss_mb']:.0f} MB peak at "
               f"{largest['beats']:,}", f"< {RSS_GOAL_MB:.0f} MB at 10^7",
               largest['peak_rss_mb'] < RSS_GOAL_MB if largest["beats"] >= 10**7 else None),
        Target("6. verdict time", f"{largest['verdict_s']:.3f} s at {largest['beats']:,}",
               f"< {VERDICT_GOAL_S:g} s at 10^7",
               largest["verdict_s"] < VERDICT_GOAL_S if largest["beats"] >= 10**7 else None),
        Target("6. reader at 20k/s", f"{paced['rate']:,.0f}/s read, reader "
               f"{paced['reader_share']:.1%} of a core", "keeps up, < 5 % of a core",
               kept_up and paced["reader_share"] < READER_GOAL)]
    section.raw = {"runs": runs, "paced": paced, "unpacked": unpacked}
    return section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="one long run, watched in this process")
    parser.add_argument("--beats", type=int, required=True)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--unpacked", action="store_true", help="a JSON line a step")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.beats, args.rate, not args.unpacked)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
