"""Point 4: the whole catalogue end to end, serial against parallel workers.

Each round runs the real CLI, `mlxprobe run --all --jobs J --json R.json --quiet`, in a
subprocess, the --jobs values interleaved (1 2 4, then 4 2 1, ...). Wall time is the
subprocess's. From each report: per run, `wall_s` split into child start-up (process start
to the start record: python, mlxprobe, mlx imported), set-up (start record to the first
step: the scenario's import, model, data), the loop itself (sum of step times) and the rest
(after the last step: evaluation and checks, a hang's deadline and stacks, ending the tree).
A config "J-rebuild" runs `--jobs J` with the scenarios' corpus cache unusable, as before the
cache: every child parses the stdlib docstrings again (the design fix this benchmark found).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

from bench_common import Section, Target, median, spread

from mlxprobe.results import report

PHASES = ("startup_s", "setup_s", "loop_s")
TARGET_S = 30.0
TOP = 8


def mlxprobe_command() -> list[str]:
    script = Path(sys.executable).parent / "mlxprobe"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from mlxprobe.cli import main; sys.exit(main())"]


def cache_without_corpus(folder: Path) -> Path:
    """A cache folder holding the real cache's checkpoints but where the corpus file cannot
    exist (a folder stands at its path): every child builds the corpus, as before the cache."""
    real = Path(os.environ.get("MLXPROBE_CACHE") or Path.home() / ".cache" / "mlxprobe")
    folder.mkdir(exist_ok=True)
    for path in real.glob("tinylm-*"):
        shutil.copy2(path, folder / path.name)
    with patched_env("MLXPROBE_CACHE", str(folder)):
        from mlxprobe_scenarios import _text

        _text._cache_path().mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def patched_env(name: str, value: str):
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            del os.environ[name]
        else:
            os.environ[name] = old


def one_round(config: str, path: Path) -> dict:
    """One catalogue run; config "2" is `--jobs 2`, "2-rebuild" the same without the corpus
    cache (see cache_without_corpus)."""
    jobs, _, rebuild = config.partition("-")
    env = dict(os.environ)
    if rebuild:
        env["MLXPROBE_CACHE"] = str(cache_without_corpus(path.with_suffix(".cache")))
    started = time.perf_counter()
    done = subprocess.run([*mlxprobe_command(), "run", "--all", "--jobs", jobs, "--json",
                           str(path), "--quiet"], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    built = report.load(path)
    return {"jobs": config, "wall_s": wall, "exit": done.returncode, "report": built}


def phases(entry: dict) -> dict:
    metrics = entry["metrics"]
    out = {key: float(metrics.get(key) or 0.0) for key in PHASES}
    out["rest_s"] = max(0.0, metrics["wall_s"] - sum(out.values()))
    out["wall_s"] = metrics["wall_s"]
    return out


def totals(built: dict) -> dict:
    sums: dict = defaultdict(float)
    for entry in built["runs"]:
        for key, value in phases(entry).items():
            sums[key] += value
    sums["runs"] = len(built["runs"])
    sums["mismatched"] = sum(not e["matched"] for e in built["runs"])
    return dict(sums)


def run(args) -> Section:  # noqa: ANN001 - argparse.Namespace
    jobs = [j.strip() for j in str(args.jobs).split(",") if j.strip()]
    rounds = 1 if args.quick else args.catalogue_rounds
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="mlxprobe-bench-") as tmp:
        for index in range(rounds):
            order = jobs if index % 2 == 0 else list(reversed(jobs))
            for j in order:
                print(f"   catalogue round {index + 1}/{rounds}, --jobs {j}", flush=True)
                results.append(one_round(j, Path(tmp) / f"j{j}-r{index}.json"))
    return _section(results, jobs)


def _section(results: list[dict], jobs: list[str]) -> Section:
    section = Section("catalogue", "4. Whole catalogue, `mlxprobe run --all --jobs J` "
                      "(rounds interleaved)",
                      ["--jobs", "wall s", "runs", "sum of run walls s", "loop %",
                       "start-up %", "set-up %", "rest %", "mismatched"])
    by_jobs = {j: [r for r in results if r["jobs"] == j] for j in jobs}
    for j, rounds in by_jobs.items():
        sums = [totals(r["report"]) for r in rounds]
        share = {k: median([s[k] / s["wall_s"] * 100 for s in sums])
                 for k in (*PHASES, "rest_s")}
        section.rows.append([str(j), spread([r["wall_s"] for r in rounds], "{:.1f}"),
                             str(int(sums[0]["runs"])),
                             f"{median([s['wall_s'] for s in sums]):.1f}",
                             f"{share['loop_s']:.0f}", f"{share['startup_s']:.0f}",
                             f"{share['setup_s']:.0f}", f"{share['rest_s']:.0f}",
                             ",".join(str(int(s["mismatched"])) for s in sums)])
    section.notes = _slowest(results) + _notes(by_jobs)
    best = min(jobs, key=lambda j: median([r["wall_s"] for r in by_jobs[j]]))
    wall = {j: median([r["wall_s"] for r in rs]) for j, rs in by_jobs.items()}
    on_two = wall.get("2", wall[best])
    section.targets = [Target("4. catalogue wall time", ", ".join(
        f"--jobs {j}: {w:.1f} s" for j, w in wall.items() if "-" not in j),
        f"< {TARGET_S:.0f} s on 2 cores", on_two < TARGET_S)]
    section.raw = {"rounds": [{k: v for k, v in r.items() if k != "report"} | {
        "totals": totals(r["report"])} for r in results],
        "reports": [r["report"] for r in results]}
    return section


def _slowest(results: list[dict]) -> list[str]:
    """The variants that take the most time, from the serial rounds (else all rounds)."""
    serial = [r for r in results if r["jobs"] == "1"] or results
    per: dict = defaultdict(list)
    for r in serial:
        for entry in r["report"]["runs"]:
            per[f"{entry['scenario']}/{entry['variant']}"].append(phases(entry))
    ranked = sorted(per.items(), key=lambda kv: -median([p["wall_s"] for p in kv[1]]))
    lines = []
    for name, ps in ranked[:TOP]:
        parts = ", ".join(f"{k[:-2]} {median([p[k] for p in ps]):.1f}"
                          for k in (*PHASES, "rest_s"))
        lines.append(f"slow: {name} {median([p['wall_s'] for p in ps]):.1f} s ({parts})")
    total = sum(median([p["wall_s"] for p in ps]) for _, ps in ranked)
    top = sum(median([p["wall_s"] for p in ps]) for _, ps in ranked[:TOP])
    lines.insert(0, f"{len(ranked)} variants; the {TOP} slowest take {top:.0f} s of "
                 f"{total:.0f} s of run time (serial rounds, medians)")
    return lines


def _notes(by_jobs: dict) -> list[str]:
    notes = []
    for j, rounds in by_jobs.items():
        sums = [totals(r["report"]) for r in rounds]
        overlap = median([s["wall_s"] / r["wall_s"] for s, r in zip(sums, rounds)])
        width = int(j.partition("-")[0])
        outside = median([r["wall_s"] - s["wall_s"] / width for s, r in zip(sums, rounds)])
        notes.append(f"--jobs {j}: runs overlap {overlap:.2f}x; wall minus run time / jobs "
                     f"(CLI start, catalogue, report, idle workers) {outside:.1f} s")
    return notes
