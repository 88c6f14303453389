"""Rule unit: memory that climbs over time in a run with too few steps to fit it by step.

Job: the step-based leak rule (`verdict._leak`) needs LEAK_MIN_STEPS heartbeats after
warm-up. A loop that never evaluates and prints rarely, or prints nothing until its end,
gives none or a handful, yet the outside samples (RSS of the tree, 10-20 a second) still
show memory climbing between prints. This rule fits RSS against time instead, with the same
floors as the step rule, and only where the step rule could not judge.

Thresholds and why: the step rule's (16 MB and 10% of the RSS at warm-up end, the last half's
slope at least half of the whole fit's), after the first 20% of the run's samples (kernel
compilation, imports, data set-up), after the program's first counted optimizer update (under
load, mlx-lm's imports and model load outlast a fifth of a short run: its LoRA trainer under
a busy test suite was once a false leak, "+51.5 MB over 18 s after warm-up, from 31 MB", the
31 MB being a process still importing) and after the last sample that saw a compiler in the tree
(g++ is in the tree's RSS while it runs, and each compiled kernel MLX loads adds a few MB:
measured, a cold compile child "grew" 17 MB over 26 s of g++ at a load average of 20) and
after the last change in the tree's process count (the ranks of a launcher starting one by
one under load add their imports to the tree's RSS: a clean 12-step 2-rank job was once a
false leak at a load average of 19), over
at least MIN_SAMPLES samples and MIN_SECONDS: a shorter run's RSS is mostly its start-up.

Must not import: mlx, the runner.
"""

from __future__ import annotations

from ..watching.facts import RawResult
from . import hints, memory_shape, program
from .rule import Rule, Verdict
from .stats import theil_sen

MB = 1024 * 1024
WARMUP = 0.2
MIN_SAMPLES = 50
MIN_SECONDS = 5.0
MIN_STEPS_BY_STEP = 30  # the step rule's LEAK_MIN_STEPS: below it, time decides
MIN_MB, MIN_REL, SUSTAIN = 16.0, 0.10, 0.5


def fit(raw: RawResult) -> dict | None:
    """RSS against time after warm-up: slope, growth, baseline; None when too short."""
    samples = list(raw.samples)
    settled = [i for i, s in enumerate(samples)
               if s.compiling or (i and s.procs != samples[i - 1].procs)]
    begun = training_start(raw)
    first = next((i for i, s in enumerate(samples) if s.t >= begun), len(samples)) \
        if begun is not None else 0
    start = max(int(len(samples) * WARMUP), settled[-1] + 1 if settled else 0, first)
    body = [(s.t, s.rss / MB) for s in samples[start:]]
    if len(body) < MIN_SAMPLES or body[-1][0] - body[0][0] < MIN_SECONDS:
        return None
    xs, ys = [p[0] for p in body], [p[1] for p in body]
    slope, late = theil_sen(xs, ys), theil_sen(xs[len(xs) // 2:], ys[len(ys) // 2:])
    seconds = xs[-1] - xs[0]
    return {"mb_per_s": round(slope, 4), "late_mb_per_s": round(late, 4),
            "growth_mb": round(slope * seconds, 2), "baseline_mb": round(ys[0], 2),
            "seconds": round(seconds, 1), "samples": len(body)}


def training_start(raw: RawResult) -> float | None:
    """When the program's first optimizer update was counted, or None when it made none: RSS
    before it is start-up (imports, a model and its data loaded), never a step's leak."""
    times = [r["t"] for r in raw.of_kind("step")
             if r.get("source") == "update" and isinstance(r.get("t"), (int, float))]
    return min(times) if times else None


def climbing(raw: RawResult, meta: dict) -> Verdict | None:
    if raw.step_count >= MIN_STEPS_BY_STEP / (1 - WARMUP) or raw.stall is not None:
        return None
    found = fit(raw)
    if found is None or found["growth_mb"] < max(MIN_MB, MIN_REL * found["baseline_mb"]) \
            or found["late_mb_per_s"] < SUSTAIN * found["mb_per_s"]:
        return None
    shape = memory_shape.describe([(s.t, s.rss / MB) for s in raw.samples])
    how = f"; {memory_shape.words(shape)}" if shape else ""
    return Verdict("leak", "rss_over_time", f"RSS grew {found['mb_per_s']:.2f} MB/s (+"
                   f"{found['growth_mb']:.1f} MB over {found['seconds']:.0f} s after warm-up, "
                   f"from {found['baseline_mb']:.0f} MB) in a run with {raw.step_count} "
                   f"reported steps{how}", hints.leak_for(program.call_sites(raw)),
                   {"fit": found, "memory_shape": shape, "min_growth_mb": MIN_MB,
                    "min_growth_rel": MIN_REL, "sustain_ratio": SUSTAIN})


RULES = (
    Rule("leak.over_time", "memory", f"with < {MIN_STEPS_BY_STEP} steps after warm-up: RSS "
         f"against time grew >= {MIN_MB:g} MB and {MIN_REL:.0%}, sustained", "the step "
         "rule's floors (catalogue runs), applied over time", climbing),
)
