"""Stability of the verdicts: run the whole catalogue N times, quiet or with a core kept busy.

    python benchmarks/stability.py --runs 10                 # quiet machine
    python benchmarks/stability.py --runs 10 --busy          # + one CPU-bound hog process
    python benchmarks/stability.py --runs 3 --xdist 2        # `pytest scenarios/ -n 2`
    python benchmarks/stability.py --summary                 # only print what is stored

Each round is one `mlxprobe run --all --json` (the real CLI path, in a subprocess), or with
`--xdist N` one `pytest scenarios/ -n N --mlxprobe-json` (the pytest plugin under
pytest-xdist, as users with big suites run it: `pytest -n auto`), whose report is kept in
--out (default benchmarks/stability-out/), named by mode and round number.
Rerunning with the same --out reuses every complete round already there (the script is
resumable: stop it any time, start it again, it carries on; --fresh starts over). The
summary counts, per scenario variant, the verdicts seen over all stored rounds of each mode
and the flips (rounds whose verdict differs from the variant's most common one), with the
wall times; exit 1 when anything flipped or did not match its expectation.

Too slow for CI (one round is the whole catalogue): it prints numbers, it asserts nothing
about speed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from mlxprobe.errors import UsageError
from mlxprobe.results import report

HOG = "while True: pass"
DEFAULT_OUT = Path(__file__).resolve().parent / "stability-out"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="rounds wanted in this mode")
    parser.add_argument("--busy", action="store_true",
                        help="keep a core busy with a CPU-bound process during every round")
    parser.add_argument("--hogs", type=int, default=1, help="how many hog processes (--busy)")
    parser.add_argument("--jobs", type=int, default=1, help="mlxprobe run --jobs (default 1)")
    parser.add_argument("--xdist", type=int, default=0, metavar="N",
                        help="run each round as `pytest scenarios/ -n N` (pytest-xdist)")
    parser.add_argument("--scenarios", type=Path, help="a scenario folder (default: bundled)")
    parser.add_argument("--scenario", action="append", help="only these ids (repeatable)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where rounds are kept")
    parser.add_argument("--fresh", action="store_true", help="discard stored rounds first")
    parser.add_argument("--summary", action="store_true", help="run nothing, print the table")
    parser.add_argument("--tag", default="", help="added to the mode name (keeps rounds of "
                        "a different selection apart)")
    return parser.parse_args(argv)


def mode_of(args: argparse.Namespace) -> str:
    jobs = f"xdist{args.xdist}" if args.xdist else f"j{args.jobs}"
    mode = f"busy{args.hogs}-{jobs}" if args.busy else f"quiet-{jobs}"
    return f"{mode}-{args.tag}" if args.tag else mode


def round_path(out: Path, mode: str, index: int) -> Path:
    return out / f"{mode}-{index:02d}.json"


def stored(path: Path) -> dict | None:
    """The round's report when it is there and complete; None to (re)run it."""
    try:
        data = report.load(path)
    except UsageError:
        return None
    return data if data.get("complete") and path.with_suffix(".meta.json").exists() else None


def cli_command(args: argparse.Namespace, path: Path) -> list[str]:
    if args.xdist:
        return xdist_command(args, path)
    cmd = [sys.executable, "-m", "mlxprobe.cli", "run", "--quiet", "--no-color", "--jobs",
           str(args.jobs), "--json", str(path)]
    if args.scenarios:
        cmd += ["--scenarios", str(args.scenarios)]
    picks = [x for s in args.scenario or [] for x in ("--scenario", s)]
    return cmd + (picks or ["--all"])


def xdist_command(args: argparse.Namespace, path: Path) -> list[str]:
    """The round as pytest runs it under pytest-xdist: one worker process per `-n`, each
    running its share of the scenario items; the plugin merges the shares into `path`."""
    folder = args.scenarios or Path(__file__).resolve().parents[1] / "scenarios"
    picks = ["-k", " or ".join(s.replace("-", "_") for s in args.scenario)] \
        if args.scenario else []
    return [sys.executable, "-m", "pytest", str(folder), "-n", str(args.xdist), "-q",
            "-p", "no:cacheprovider", "--mlxprobe-json", str(path), *picks]


def run_round(args: argparse.Namespace, mode: str, index: int) -> None:
    path = round_path(args.out, mode, index)
    hogs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(args.hogs * args.busy)]
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    try:
        done = subprocess.run(cli_command(args, path), capture_output=True, text=True)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    wall = time.monotonic() - started
    if done.returncode not in (0, 1):
        sys.exit(f"round {index} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    meta = {"mode": mode, "round": index, "jobs": args.jobs, "xdist": args.xdist,
            "wall_s": round(wall, 2),
            "exit": done.returncode, "loadavg_1min_before": load_before,
            "loadavg_1min_after": os.getloadavg()[0]}
    path.with_suffix(".meta.json").write_text(json.dumps(meta, indent=1))
    print(f"{mode} round {index}: {wall:.1f} s, exit {done.returncode}, load "
          f"{load_before:.1f} -> {meta['loadavg_1min_after']:.1f}", flush=True)


def collect(out: Path) -> dict[str, list[tuple[dict, dict]]]:
    """mode -> [(report, meta)] of every complete stored round."""
    rounds: dict[str, list[tuple[dict, dict]]] = {}
    for path in sorted(out.glob("*-[0-9][0-9].json")):
        data = stored(path)
        if data is not None:
            meta = json.loads(path.with_suffix(".meta.json").read_text())
            rounds.setdefault(meta["mode"], []).append((data, meta))
    return rounds


def label(run: dict) -> str:
    return f"{run['verdict']}:{run['detail']}" if run.get("detail") else run["verdict"]


def variant_rows(rounds: list[tuple[dict, dict]]) -> list[dict]:
    """One row per scenario variant: verdicts seen, flips, mismatches, wall times."""
    seen: dict[tuple[str, str], list[dict]] = {}
    for data, _ in rounds:
        for run in data["runs"]:
            seen.setdefault((run["scenario"], run["variant"]), []).append(run)
    rows = []
    for (scenario, variant), runs in sorted(seen.items()):
        labels = Counter(label(r) for r in runs)
        walls = [r["metrics"]["wall_s"] for r in runs]
        rows.append({"scenario": scenario, "variant": variant, "expected": runs[0]["expected"],
                     "runs": len(runs), "verdicts": labels,
                     "flips": len(runs) - labels.most_common(1)[0][1],
                     "mismatches": sum(1 for r in runs if not r["matched"]),
                     "wall_median": statistics.median(walls), "wall_max": max(walls)})
    return rows


def print_mode(mode: str, rounds: list[tuple[dict, dict]]) -> int:
    rows = variant_rows(rounds)
    header = ("scenario", "variant", "expected", "runs", "flips", "mism", "wall med",
              "wall max", "verdicts seen")
    table = [header] + [(r["scenario"], r["variant"], r["expected"], str(r["runs"]),
                         str(r["flips"]), str(r["mismatches"]), f"{r['wall_median']:.1f}",
                         f"{r['wall_max']:.1f}",
                         ", ".join(f"{k} x{v}" for k, v in r["verdicts"].most_common()))
                        for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    print(f"\n== {mode}: {len(rounds)} rounds ==")
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    walls = [meta["wall_s"] for _, meta in rounds]
    flips = sum(r["flips"] for r in rows)
    mismatches = sum(r["mismatches"] for r in rows)
    loads = ", ".join(f"{meta['loadavg_1min_before']:.1f}" for _, meta in rounds)
    print(f"round wall s: median {statistics.median(walls):.1f}, min {min(walls):.1f}, "
          f"max {max(walls):.1f}; load (1 min) before each round: {loads}")
    print(f"flips: {flips} in {sum(r['runs'] for r in rows)} variant runs; "
          f"mismatches: {mismatches}")
    return flips + mismatches


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / ".gitignore").write_text("*\n")  # measurements, not sources
    mode = mode_of(args)
    if args.fresh:
        for path in args.out.glob(f"{mode}-*"):
            path.unlink()
    if not args.summary:
        for index in range(args.runs):
            if stored(round_path(args.out, mode, index)) is None:
                run_round(args, mode, index)
    rounds = collect(args.out)
    if not rounds:
        print("no stored rounds")
        return 0
    return 1 if sum(print_mode(m, r) for m, r in sorted(rounds.items())) else 0


if __name__ == "__main__":
    sys.exit(main())
