"""Rule unit: optimizer updates with no evaluation between them, whose lazy graph is paid
for in one long wait.

Job: a loop that calls `optimizer.update` (or `apply_gradients`) every step but never
`mx.eval`s the model or the optimizer state builds each step's update on top of the last
one: the updates themselves return in well under a millisecond, RSS climbs while the graph
grows, and the first real evaluation (a `float(total)` at an epoch line, a checkpoint) runs
the whole backlog at once, so the program sits seconds in one step. The bootstrap stamps
every step record with the count of `mx.eval` calls so far (`evals`), so a stretch of
updates with the same count had no `mx.eval` between them.

Thresholds and why:
- MIN_UPDATES = 100 updates in the stretch: mlx-lm and the catalogue's fixed loops evaluate
  every step; a gradient-accumulation loop evaluates every few micro-steps.
- a gap: one update that took GAP_MIN_S = 1 s or more and GAP_RATIO = 1000 times the
  stretch's median update (measured, failure corpus `detr_never_eval_state`, mlx issue
  1432: 0.33 ms median, gaps 2.9 s and 5.6 s: 8,500x and 16,600x; a correct loop that reads
  `loss.item()` each step pays its compute in every step, so its long validation pass is
  ~100-1000x its step, not 10,000x).
- or the wait after the stretch's last update until the program's next record (a report,
  its exit) held the gap: the evaluation after the loop paid for it (measured, failure
  corpus fresh9 `swallowed_cache_clear_skips_eval`: 1,500 updates at 0.5 ms, none
  evaluated, then 6.2 s to the next report, RSS 108 -> 268 MB).
- RSS at the gap's start at least the leak rules' floors (16 MB and 10%) above the stretch's
  start, and still climbing in its second half (LATE_SHARE of the growth): the graph was
  growing, not an allocator warming up (measured: 43 -> 116 -> 183 MB in 1,000 updates).
Correct loops that evaluate with `.item()` only also show updates with no `mx.eval`: their
RSS stays flat and their steps carry their compute, so neither the gap nor the climb holds.

Must not import: mlx, the runner.
"""

from __future__ import annotations

from ..protocol import STEP, UPDATE
from ..watching.facts import RawResult
from . import hints
from .rule import Rule, Verdict
from .unevaluated import MIN_MB, MIN_REL, rss_at

MIN_UPDATES = 100
GAP_MIN_S = 1.0
GAP_RATIO = 1000.0
LATE_SHARE = 0.25


def stretches(raw: RawResult) -> list[list[dict]]:
    """Runs of consecutive update records with the same `evals` count (no `mx.eval` between
    them), at least MIN_UPDATES long."""
    runs: list[list[dict]] = []
    for record in raw.of_kind(STEP):
        if record.get("source") != UPDATE or "evals" not in record:
            runs.append([])
        elif runs and runs[-1] and runs[-1][-1].get("evals") == record.get("evals"):
            runs[-1].append(record)
        else:
            runs.append([record])
    return [run for run in runs if len(run) >= MIN_UPDATES]


def median_update(run: list[dict]) -> float:
    """The median seconds an update of the run took."""
    times = sorted(float(r.get("step_s") or 0.0) for r in run)
    return times[len(times) // 2]


def gap(run: list[dict]) -> dict | None:
    """The first update of the run that took >= GAP_MIN_S and >= GAP_RATIO x its median,
    by its own time or by the time since the record before it: past the first steps the
    recorder keeps one update in a few, and the one that waited on the backlog may be one it
    left out (fresh149 `quillmere_lazy_mlp`: 1.2-1.5 s between the kept updates 4001 and
    4005, each kept one 0.1-0.4 ms)."""
    median = median_update(run)
    for i, record in enumerate(run):
        since = float(record.get("t", 0.0)) - float(run[i - 1].get("t", 0.0)) if i else 0.0
        took = max(float(record.get("step_s") or 0.0), since)
        if i >= MIN_UPDATES and took >= GAP_MIN_S and took >= GAP_RATIO * max(median, 1e-9):
            return {"gap_s": round(took, 2), "median_update_ms": round(median * 1e3, 3),
                    "updates_before": i, "updates": counted(run[0], record, i)}
    return None


def tail_gap(raw: RawResult, run: list[dict]) -> dict | None:
    """The wait after the run's last update until the program's next valued record (a
    report with a number, its exit), when it took >= GAP_MIN_S and >= GAP_RATIO x the
    median update: the evaluation after the loop that computed the backlog."""
    last = float(run[-1].get("t", 0.0))
    later = [float(r["t"]) for r in raw.records if float(r.get("t", 0.0)) > last and valued(r)]
    median = median_update(run)
    waited = min(later) - last if later else 0.0
    if waited < GAP_MIN_S or waited < GAP_RATIO * max(median, 1e-9):
        return None
    return {"gap_s": round(waited, 2), "median_update_ms": round(median * 1e3, 3),
            "updates_before": len(run), "updates": counted(run[0], run[-1], len(run) - 1) + 1,
            "after_the_loop": True}


def counted(first: dict, last: dict, records: int) -> int:
    """Updates from `first` to `last` by their step numbers (the recorder keeps one in a few
    past the first steps), else by the records between them."""
    steps = (first.get("step"), last.get("step"))
    return steps[1] - steps[0] if all(type(v) is int for v in steps) else records


def valued(record: dict) -> bool:
    """A record that needed the program's arrays computed: a report with a value (a loss,
    a metric), or its exit; a progress line with no number (`step 1500`) needed none."""
    return record.get("kind") == "exiting" or bool(record.get("metrics")) \
        or record.get("loss") is not None


def climbed(raw: RawResult, run: list[dict], found: dict) -> dict | None:
    """RSS from the run's first update to the one before the gap, when it grew past the
    floors and still climbed in the second half; else None."""
    end = found["updates_before"]  # the gap's index in the run
    at = [float(run[k].get("t", 0.0)) for k in (0, end // 2, end - 1)]
    mb = [rss_at(raw.samples, t) for t in at]
    if any(v is None for v in mb):
        return None
    first, middle, last = (float(v) for v in mb if v is not None)
    growth = last - first
    if growth < max(MIN_MB, MIN_REL * first) or last - middle < LATE_SHARE * growth:
        return None
    return {"rss_mb": [round(first, 1), round(middle, 1), round(last, 1)],
            "growth_mb": round(growth, 1)}


def backlog(raw: RawResult, meta: dict) -> Verdict | None:
    if not raw.watched or raw.stall is not None:
        return None
    for run in stretches(raw):
        found = gap(run) or tail_gap(raw, run)
        grew = climbed(raw, run, found) if found else None
        if found and grew:
            return _verdict(found, grew, never_evaluated(raw))
    return None


def never_evaluated(raw: RawResult) -> bool:
    """No `mx.eval` ran in the whole run (every update record's count is 0)."""
    counts = {r.get("evals") for r in raw.of_kind(STEP) if r.get("source") == UPDATE}
    return counts == {0}


def _verdict(found: dict, grew: dict, never: bool) -> Verdict:
    waited = ("the program's next record after the last of them came" if
              found.get("after_the_loop") else "one update waited")
    return Verdict("leak", "lazy_backlog", f"{found['updates']} optimizer updates ran "
                   f"with no mx.eval between them ({found['median_update_ms']} ms each, median) "
                   f"while RSS grew {grew['growth_mb']:.0f} MB ({grew['rss_mb'][0]:.0f} -> "
                   f"{grew['rss_mb'][-1]:.0f} MB), then {waited} {found['gap_s']} s later, "
                   "the backlog computed: each step's update builds on a graph never evaluated"
                   + ("; no mx.eval ran in the whole run" if never else ""),
                   hints.LAZY_BACKLOG + (hints.EVAL_NEVER_REACHED if never else ""),
                   {**found, **grew, "never_evaluated": never, "min_updates": MIN_UPDATES,
                    "gap_min_s": GAP_MIN_S, "gap_ratio": GAP_RATIO})


RULES = (
    Rule("leak.lazy_backlog", "memory", f">= {MIN_UPDATES} optimizer updates with no mx.eval "
         f"between them, one of them (or the wait after the last) >= {GAP_MIN_S:g} s and "
         f">= {GAP_RATIO:g}x their median, "
         f"RSS +{MIN_MB:g} MB and {MIN_REL:.0%} before it and still climbing",
         "failure corpus: detr_never_eval_state (mlx issue 1432)", backlog),
)
