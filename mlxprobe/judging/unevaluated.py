"""Rule unit: a loop that reports progress but never evaluates, while memory climbs report
after report, and then pays for it in one long evaluation.

Job: a loop that carries arrays from one iteration to the next (accumulated gradients, a
running total of losses) and never evaluates them builds one lazy graph whose every node,
and every input it holds, stays alive until the first evaluation. It prints its progress,
takes no optimizer step and runs no `mx.eval` meanwhile, so the step-based leak rule sees one
step and the time-based one (which needs >= 5 s) may see too short a run on a fast machine.
The evidence any such run has: a stretch of the program's own progress reports with no
update and no evaluation between them (the bootstrap counts both), RSS higher at almost
every report, and the evaluation that ends the stretch running long (it computes the whole
backlog).

Thresholds and why: MIN_REPORTS = 5 reports in the stretch (a trajectory); the stretch
starts after the program built its optimizer (data set-up, tokenizing and model loading come
before it, and grow memory for good reasons); a program that updates by hand builds none,
and is judged from its start only when it never ran an `mx.eval` nor an optimizer update at
all (a set-up phase followed by a loop that evaluates is then never one stretch; one
followed by a loop that reads `.item()` only keeps RSS flat through its loop, so the climb
fails; measured, failure corpus `never_eval_param_list`: 12 reports at ~9,400 it/s, RSS 6 ->
730 MB in 2 s, then 6.9 s in the final `.item()`); RSS at its last report at least the leak
rules' floors above its first (16 MB and 10%), higher than the report before at RISING_SHARE
= 75% of the reports, and still climbing in the stretch's second half (at least a quarter of
the growth: not a warm-up that levelled off; the growth counted from the lowest RSS of
the stretch's first half, as an RSS sample that lags the release of the previous backlog can
read its first report high); no regular training after it (>= MIN_REPORTS
reports most with a step between them: then the stretch was a set-up phase with progress
lines); the evaluation after it open for at least the bootstrap's OPEN_AFTER_S (0.5 s) with
no compiler running, or the run ending inside the stretch. Applied only while every step
record is kept (a short run: the step rule judges long ones).
Measured (failure corpus, old held-out half, `grad_accum_lazy_leak`, mlx issue 2840): 8
reports, RSS 32 -> 190 MB, then a 2 s evaluation; its fixed twin evaluates 4,096 times.
An evaluation faster than OPEN_AFTER_S pays too, when it frees the graph: RSS falls by at
least RELEASED_SHARE = 50% of the stretch's growth within as long again as the stretch took
(the saw-tooth of memory climbing until an update's evaluation and freed by it). Measured
(fresh36 `lazy_grad_accumulation`, accumulated gradients never evaluated between 100
micro-batches): RSS 41 -> 1204 MB over each window, 800 then 354 MB a second after the
update; on a quiet machine its evaluation took under 0.5 s (held-out run: `pass`), under load
over it (`leak:unevaluated`). Its fixed twin stays at ~80 MB.

A report counts as higher than the one before only by more than STEP_SHARE = 25% of the
stretch's mean rise per report: RSS sampled from outside wobbles by a few MB, and a flat
stretch that ends in one jump is no climb (fresh357 `cloakroom_delta_recall`, correct,
watched again at stop 94: RSS 136.7, 138.7, 136.2, 136.9, 159.9 MB over its last five
reports, the last a final evaluation's allocation, read as three rises of four,
`leak:unevaluated`; the measured climbs above rise by their mean step at nearly every report).

Must not import: mlx, the runner.
"""

from __future__ import annotations

import bisect

from ..protocol import EVAL_OPEN
from ..watching.facts import RawResult, Sample
from ..watching.store import PROBE_VIEW, PROGRESS_VIEW, TRAINER_VIEW
from . import program
from .rule import Rule, Verdict

MB = 1024 * 1024
MIN_REPORTS = 5
MIN_MB, MIN_REL = 16.0, 0.10  # the leak rules' floors
RISING_SHARE = 0.75
STEP_SHARE = 0.25
LATE_SHARE = 0.25
RELEASED_SHARE = 0.5
HINT = ("arrays carried from one iteration to the next (accumulated gradients, a running "
        "loss total) are never evaluated, so every iteration adds to one lazy graph that "
        "keeps all its inputs alive until the end: evaluate them each iteration, "
        "`mx.eval(accumulated_grads, total_loss)` after the accumulation line")


def stretch(raw: RawResult) -> list[dict]:
    """The longest run of progress reports after the optimizer was built with no step
    (update or evaluation) between them; in a run that built no optimizer (updates by
    hand), its reports from the start, when no update and no evaluation was ever counted."""
    made = [float(r.get("t", 0.0)) for r in raw.of_kind("optimizer")]
    steps = [program.step_times(raw, v) for v in (TRAINER_VIEW, PROBE_VIEW)]
    if any(s is None for s in steps):
        return []
    marks = sorted(t for s in steps for t in s or [])
    if not made and marks:  # no optimizer: judged only when nothing was ever evaluated
        return []
    since = made[0] if made else float("-inf")
    groups: dict[int, list[dict]] = {}
    for report in raw.view(PROGRESS_VIEW).records():
        if float(report.get("t", 0.0)) >= since:
            groups.setdefault(bisect.bisect(marks, float(report["t"])), []).append(report)
    found = max(sorted(groups.items()), key=lambda item: len(item[1]), default=(0, []))
    after = [len(g) for at, g in groups.items() if at > found[0]]
    return [] if _regular(after) else found[1]


def _regular(after: list[int]) -> bool:
    """Whether training went on regularly after the stretch (>= MIN_REPORTS more reports,
    most with a step between them): then the stretch was a phase before it (a data set
    tokenized with progress lines after the optimizer was built), not the loop's way."""
    return len(after) >= MIN_REPORTS and sorted(after)[len(after) // 2] <= 1


def rss_at(samples: list[Sample], t: float) -> float | None:
    """MB of the last sample at or before `t`."""
    i = bisect.bisect([s.t for s in samples], t)
    return samples[i - 1].rss / MB if i else None


def climb(raw: RawResult, reports: list[dict]) -> dict | None:
    """RSS at each report, when it climbed past the floors at almost every report and
    still in the second half; else None."""
    values = [rss_at(raw.samples, float(r.get("t", 0.0))) for r in reports]
    if len(reports) < MIN_REPORTS or any(v is None for v in values):
        return None
    mb = [float(v) for v in values if v is not None]
    base = min(mb[:len(mb) // 2 + 1])  # a first report read before the last release lags
    growth, half = mb[-1] - base, mb[-1] - mb[len(mb) // 2]
    least = STEP_SHARE * (mb[-1] - base) / (len(mb) - 1)  # a rise above sampling noise
    rising = sum(b - a > least for a, b in zip(mb, mb[1:])) / (len(mb) - 1)
    if growth < max(MIN_MB, MIN_REL * base) or rising < RISING_SHARE \
            or half < LATE_SHARE * growth:
        return None
    return {"reports": len(mb), "rss_mb_at_reports": [round(v, 1) for v in mb],
            "rss_mb_base": round(base, 1), "growth_mb": round(growth, 1),
            "rising_share": round(rising, 2)}


def backlog(raw: RawResult, reports: list[dict], found: dict) -> dict | None:
    """The long evaluation that ended the stretch (opened after its last report, no
    compiler meanwhile), the memory it released, or the run's end inside the stretch; None
    otherwise."""
    after = float(reports[-1].get("t", 0.0))
    opened = [r for r in raw.of_kind(EVAL_OPEN) if float(r.get("t", 0.0)) >= after]
    if opened:
        compiled = any(s.compiling for s in raw.samples if s.t >= after)
        return None if compiled else {"evaluation_open_at": opened[0].get("where")}
    marks = [t for v in (TRAINER_VIEW, PROBE_VIEW) for t in program.step_times(raw, v) or []]
    if not any(t >= after for t in marks):
        return {"ended_inside": True}
    return released(raw, after - float(reports[0].get("t", 0.0)), after, found)


def released(raw: RawResult, span: float, after: float, found: dict) -> dict | None:
    """RSS at least RELEASED_SHARE of the stretch's growth below its last report within
    as long again after it: the evaluation that ended the stretch freed the graph."""
    window = [s.rss / MB for s in raw.samples if after < s.t <= after + span]
    last = found["rss_mb_at_reports"][-1]
    if not window or last - min(window) < RELEASED_SHARE * found["growth_mb"]:
        return None
    return {"released_mb": round(last - min(window), 1), "released_share": RELEASED_SHARE}


def unevaluated(raw: RawResult, meta: dict) -> Verdict | None:
    if not raw.watched or raw.stall is not None:
        return None
    reports = stretch(raw)
    found = climb(raw, reports) if reports else None
    paid = backlog(raw, reports, found) if found else None
    if found is None or paid is None:
        return None
    return Verdict("leak", "unevaluated", f"the program reported progress {found['reports']} "
                   "times with no optimizer step and no evaluation between the reports, while "
                   f"RSS grew {found['growth_mb']:.0f} MB ({found['rss_mb_base']:.0f}"
                   f" -> {found['rss_mb_at_reports'][-1]:.0f} MB, higher at "
                   f"{found['rising_share']:.0%} of the reports){_paid(paid)}", HINT,
                   {**found, **paid, "min_reports": MIN_REPORTS, "min_growth_mb": MIN_MB,
                    "min_growth_rel": MIN_REL, "rising_share_min": RISING_SHARE})


def _paid(paid: dict) -> str:
    """How the stretch ended, in words."""
    if paid.get("evaluation_open_at"):
        return f", then an evaluation at {paid['evaluation_open_at']} ran >= 0.5 s"
    if paid.get("released_mb"):
        return (f", then the evaluation that ended it released {paid['released_mb']:.0f} MB "
                "(memory climbs until the evaluation and is freed by it)")
    return ", and the run ended inside it"


RULES = (
    Rule("leak.unevaluated", "memory", f">= {MIN_REPORTS} progress reports after the "
         f"optimizer was built with no step between them, RSS +{MIN_MB:g} MB and "
         f"{MIN_REL:.0%}, higher at {RISING_SHARE:.0%} of them and still climbing, then a long "
         f"evaluation, one that releases >= {RELEASED_SHARE:.0%} of the growth within the "
         "stretch's length, or the end", "failure corpus: grad_accum_lazy_leak (mlx issue "
         "2840); the release: fresh36 lazy_grad_accumulation",
         unevaluated),
)
