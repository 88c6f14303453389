"""Point 5: the smallest per-step growth the leak verdict catches in 100 steps, and how often
it calls a healthy (pass-expected) variant a leak.

Sensitivity: benchmarks/children/bench_child.py `grow` (plain Python, keeps k KiB of touched
bytes per step) and `grow_mlx` (keeps an evaluated k KiB MLX array per step), 100 steps at a
10 ms pace (about a tiny-LM step), run through `outcome.execute`. Bisection over k: a k is
caught when every one of REPS runs is judged `leak`.

False positives: every pass-expected variant in (a) the catalogue rounds of point 4 from this
same invocation, (b) benchmarks/stability.py's stored rounds (if any), (c) with --fp-runs N,
`mlxprobe run --all --variant fixed --repeat N --jobs 2`.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from bench_common import BENCH_DIR, CHILDREN, Section, Target

from mlxprobe.judging.verdict import LEAK_MIN_MB, LEAK_MIN_REL, LEAK_WARMUP_FRAC
from mlxprobe.launching import catalog
from mlxprobe.launching.spec import spec_for
from mlxprobe.pipeline import matrix
from mlxprobe.results import report

STABILITY_OUT = BENCH_DIR / "stability-out"
STEPS, PACE_S = 100, 0.01
HIGH_KB = 1024
REPS = 3


def leak_specs(variant: str, kb: float, reps: int) -> list:
    scenario = catalog.load_file(CHILDREN / "bench_child.py")
    env = (("BENCH_KB", str(kb)), ("BENCH_STEPS", str(STEPS)), ("BENCH_STEP_S", str(PACE_S)))
    return [replace(spec_for(scenario, variant), env=env, repeat=r) for r in range(reps)]


def trial(variant: str, kb: float, reps: int) -> dict:
    outcomes = matrix.run_all(leak_specs(variant, kb, reps), jobs=1)
    fits = [o.verdict.evidence.get("memory") or o.verdict.evidence for o in outcomes]
    return {"kb": kb, "verdicts": [o.verdict.label for o in outcomes],
            "caught": sum(o.verdict.kind == "leak" for o in outcomes),
            "growth_mb": [f.get("growth_mb") for f in fits],
            "baseline_mb": [f.get("baseline_mb") for f in fits]}


def bisect(variant: str, reps: int, resolution_kb: float) -> dict:
    """Smallest k (KiB/step) caught in every run, to within resolution_kb."""
    tried = [trial(variant, 0, reps), trial(variant, HIGH_KB, reps)]
    low, high = 0.0, float(HIGH_KB)
    if tried[-1]["caught"] < reps:
        return {"variant": variant, "smallest_kb": None, "largest_missed_kb": HIGH_KB,
                "trials": tried}
    while high - low > resolution_kb:
        mid = round((low + high) / 2)
        tried.append(trial(variant, mid, reps))
        low, high = (low, mid) if tried[-1]["caught"] == reps else (mid, high)
    return {"variant": variant, "smallest_kb": high, "largest_missed_kb": low, "trials": tried}


def false_positives(shared: dict, args) -> dict:  # noqa: ANN001 - argparse.Namespace
    sources: dict[str, list[dict]] = {}
    if shared.get("catalogue_reports"):
        sources["catalogue rounds (point 4)"] = shared["catalogue_reports"]
    stored = _stability_rounds(args.stability_out)
    if stored:
        sources[f"stability.py rounds ({args.stability_out.name})"] = stored
    if args.fp_runs:
        sources[f"--fp-runs {args.fp_runs}"] = [_fixed_rounds(args.fp_runs)]
    counts = {}
    for name, reports in sources.items():
        runs = [e for r in reports for e in r["runs"] if e["expected"] == "pass"]
        counts[name] = {"runs": len(runs), "variants": len({(e["scenario"], e["variant"])
                                                            for e in runs}),
                        "rounds": round(len(runs) / max(1, len({(e["scenario"], e["variant"])
                                                                for e in runs}))),
                        "leak": sum(e["verdict"] == "leak" for e in runs),
                        "max_growth_mb": max((_growth(e) for e in runs), default=0.0),
                        "other_mismatch": sum(not e["matched"] and e["verdict"] != "leak"
                                              for e in runs)}
    return counts


def _growth(entry: dict) -> float:
    """RSS growth over the fitted steps that the leak rule weighed (0 when not fitted)."""
    fit = entry.get("evidence", {}).get("memory") or entry.get("evidence", {})
    value = fit.get("growth_mb")
    return float(value) if isinstance(value, (int, float)) else 0.0


def _stability_rounds(folder: Path) -> list[dict]:
    if not folder.is_dir():
        return []
    sys.path.insert(0, str(BENCH_DIR))
    import stability

    return [data for rounds in stability.collect(folder).values() for data, _ in rounds]


def _fixed_rounds(repeat: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="mlxprobe-bench-") as tmp:
        path = Path(tmp) / "fixed.json"
        subprocess.run([sys.executable, "-m", "mlxprobe.cli", "run", "--all", "--variant",
                        "fixed", "--repeat", str(repeat), "--jobs", "2", "--quiet", "--json",
                        str(path)], capture_output=True, text=True)
        return report.load(path)


def run(args, shared: dict) -> Section:  # noqa: ANN001 - argparse.Namespace
    reps = 2 if args.quick else REPS
    resolution = 64 if args.quick else 16
    results = [bisect(v, reps, resolution) for v in ("grow", "grow_mlx")]
    return _section(results, false_positives(shared, args), reps)


def _section(results: list[dict], fps: dict, reps: int) -> Section:
    fitted = STEPS - int(STEPS * LEAK_WARMUP_FRAC) - 1
    section = Section("leak", f"5. Leak sensitivity ({STEPS} steps at {PACE_S * 1e3:.0f} ms, "
                      f"caught = {reps}/{reps} runs judged leak) and false positives",
                      ["child", "smallest caught KiB/step", "largest missed", "growth MB "
                       "at smallest", "baseline RSS MB", "trials (KiB: caught/runs)"])
    for r in results:
        at = next((t for t in r["trials"] if t["kb"] == r["smallest_kb"]), None)
        section.rows.append([
            r["variant"], str(r["smallest_kb"]), str(r["largest_missed_kb"]),
            _join(at["growth_mb"]) if at else "-", _join(at["baseline_mb"]) if at else "-",
            " ".join(f"{t['kb']:g}:{t['caught']}/{len(t['verdicts'])}" for t in r["trials"])])
    section.notes.append(
        f"by design the verdict needs >= {LEAK_MIN_MB:.0f} MB and >= {LEAK_MIN_REL:.0%} of the "
        f"RSS over the {fitted + 1} fitted steps: {LEAK_MIN_MB * 1024 / fitted:.0f} KiB/step "
        "while RSS < 160 MB, 10% of RSS / 79 steps above that")
    zero = [t for r in results for t in r["trials"] if t["kb"] == 0]
    section.notes.append("k = 0 (no growth): " + ", ".join(
        f"{v}" for t in zero for v in t["verdicts"]))
    total_runs = sum(c["runs"] for c in fps.values())
    total_leak = sum(c["leak"] for c in fps.values())
    for name, c in fps.items():
        section.notes.append(f"false positives, {name}: {c['leak']} leak verdicts in "
                             f"{c['runs']} runs of {c['variants']} pass-expected variants "
                             f"({c['rounds']} rounds); other mismatches {c['other_mismatch']}"
                             f"; largest fitted RSS growth {c['max_growth_mb']:.1f} MB (a leak "
                             f"needs >= {LEAK_MIN_MB:.0f} MB)")
    if not fps:
        section.notes.append("false positives: no catalogue rounds in this invocation")
    smallest = ", ".join(f"{r['variant']} {r['smallest_kb']} KiB" for r in results)
    section.targets = [
        Target("5. leak sensitivity", f"smallest caught: {smallest} per step", "(reported)",
               None if any(r["smallest_kb"] is None for r in results) else True),
        Target("5. leak false positives", f"{total_leak} in {total_runs} pass-expected runs",
               "0 over 20 runs", _fp_met(total_leak, sum(c["rounds"] for c in fps.values())))]
    section.raw = {"bisect": results, "false_positives": fps}
    return section


def _fp_met(leaks: int, rounds: int) -> bool | None:
    """Any false positive fails; zero counts as met only over at least 20 rounds."""
    if leaks:
        return False
    return True if rounds >= 20 else None


def _join(values: list) -> str:
    return "/".join("-" if v is None else f"{v:g}" for v in values)
