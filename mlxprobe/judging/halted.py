"""Rule unit: the optimizer stopped stepping while the program went on reporting progress.

Job: the bootstrap counts every optimizer update. A program that made its updates early and
then went on for most of its run printing the same progress it printed while it trained, with
no update at all, is a training loop that no longer steps: a step budget compared with a
counter that is not offset when training resumes (mlx-baselines3's `learn(total_timesteps,
reset_num_timesteps=False)`: every later call finds its target already reached and makes 0
updates), an early-stopping flag left set from an earlier `fit`, a loop condition already
false, an update skipped by a swallowed exception. The parameters stay where the last update
left them.

Thresholds and why: at least MIN_UPDATES = 10 updates (a run that trained), then at least
MIN_REPORTS = 5 progress reports after the last one (a trajectory, not a closing summary),
over at least MIN_SHARE = 50% of the time from the first update to the last of them, all
printed in one shape (the same set of names) that shares a name with the reports up to the
last update (the same progress going on, not a separate evaluation or generation phase with
its own measures, nor a closing summary: fresh253 `earmold_feedback_triage`, correct, early
stopping then four summary lines, each of its own shape, and a 1.2 s Monte-Carlo dropout pass,
51% of its time), and lasting at least MIN_AFTER_S = 1 s after the last update (a run that
trained for 0.16 s and flushed 13 buffered reports 0.1 s after its last update is output
timing, not a loop going on: tests/test_distributed.py's clean two-rank job under
`mlx.launch`, whose ranks' lines arrive through the launcher after their updates, flaked so
at stops 89 and 91). A program that calls `mx.compile` is not judged: a compiled step's
`Optimizer.update` runs only while traced, so its updates stop being counted after the first
calls (the corpus's compiled loops: 2 counted updates, then every report after them); nor one
that updates by hand (none counted). Measured (failure corpus fresh40
`ppo_chunked_learn_resume`): 48 updates in the first of 20 chunks (2.6 s), then 19 chunks and
13 s with none, the expected reward 0.472 at every one; its fixed twin updates in every chunk.
Over every kept run of the corpus (1,080 runs), with compiled programs left out, no other run
has even 3 reports over 30% of its time after its last update. It stands down when a parameter
look after the last update saw a group change (the program went on updating by hand: fresh84
`cork_taint_frozen_backbone`), or when a quantity the reports after it carry moved one way at
every one of at least MIN_REPORTS reports (a learning curve: fresh97
`cheese_grade_distill_toml`, whose second stage's looks compared the first stage's model, not
the one the program evaluated), or when the program's counter went back after the last update
and the reports after it carry measures none before it did (`new_stage`: fresh313
`apiary_swarm_hmc`, a sampler after a MAP fit).

Must not import: mlx, the runner.
"""

from __future__ import annotations

import math

from ..protocol import COMPILE, PARAMS, PROGRESS
from ..watching.facts import RawResult
from . import phases, program
from .readings import measured
from .rule import Rule, Verdict

MIN_UPDATES = 10
MIN_REPORTS = 5
MIN_SHARE = 0.5
MIN_AFTER_S = 1.0
HINT = ("the optimizer stopped stepping while the loop went on: the training loop no longer "
        "reaches its update. A step budget compared with a counter that is not offset when "
        "training resumes (`learn(total_timesteps, reset_num_timesteps=False)` must aim at "
        "`num_timesteps + total_timesteps`, not at `total_timesteps` again), an early-stop "
        "flag left set by an earlier run and never reset, a loop condition already false, or "
        "an exception swallowed around the step; check the update count grows every "
        "iteration")


def _names(records: list[dict]) -> set[str]:
    """The metric names (the loss under its name too) a list of progress records carries."""
    found: set[str] = set()
    for record in records:
        found |= set(record.get("metrics") or {})
        if record.get("loss") is not None:
            found.add(str(record.get("loss_name") or "loss"))
    return found


def continued(before: list[dict], after: list[dict]) -> list[dict]:
    """The reports after the last update that repeat one shape (set of names), the most
    often printed there, sharing a name with the reports before it: the training's own
    progress going on (fresh40 `ppo_chunked_learn_resume`: the same chunk line 19 times), not
    a closing summary whose lines each print other measures (fresh253
    `earmold_feedback_triage`, correct: early stopping, then `last-epoch weights`, `restored
    epoch 5`, `test` and a Monte-Carlo dropout pass, each line its own shape)."""
    groups: dict[frozenset[str], list[dict]] = {}
    for record in after:
        groups.setdefault(frozenset(_names([record])), []).append(record)
    largest = max(groups.items(), key=lambda item: len(item[1]), default=(frozenset(), []))
    return largest[1] if largest[0] & _names(before) else []


def moved_after(raw: RawResult, last: float) -> bool:
    """A parameter look after the last optimizer update saw a group change: the program
    updates by hand now (fresh84 `cork_taint_frozen_backbone`, correct: Adam in its first
    stage, then a hand-written momentum SGD through `model.update` on a new head)."""
    return any(float(r.get("t", 0.0)) > last and r.get("changed")
               for r in raw.of_kind(PARAMS))


def curve_after(after: list[dict]) -> str | None:
    """A quantity the reports after the last update carry that moved one way at every one of
    at least MIN_REPORTS reports: a learning curve, so parameters still change (fresh97
    `cheese_grade_distill_toml`, correct: a teacher trained with AdamW, then a student with
    a hand-written momentum step through `model.update`; hard_ce 0.708 -> 0.557 -> 0.530 ->
    0.526 -> 0.523 -> 0.521). A model left where its last update put it reports the same
    values (fresh40 `ppo_chunked_learn_resume`: 0.472 at every report) or noise."""
    series: dict[str, list[float]] = {}
    for record in after:
        for name, value in measured(record).items():
            if math.isfinite(value):
                series.setdefault(name, []).append(value)
    return next((name for name, values in series.items() if len(values) >= MIN_REPORTS
                 and _one_way(values)), None)


def new_stage(raw: RawResult, last: float, before: list[dict], after: list[dict]) -> bool:
    """The program's printed counter went back after the last update (`phases.
    restart_times`) and the reports after it carry measures none before it did: another stage
    with its own measures, not the training loop going on (fresh313 `apiary_swarm_hmc`,
    correct: a MAP fit by Adam, `map it 300`, then a hand-written Hamiltonian Monte Carlo
    sampler moving the parameters through `model.update`, `hmc it 50 ... accept 0.74 eps
    0.0865 |dtheta| 0.0594`, whose moves no look could read: it evaluates only its flat
    vector). A resumed loop that makes no update prints the measures it printed before."""
    return any(t > last for t in phases.restart_times(raw)) and \
        bool(_names(after) - _names(before))


def _one_way(values: list[float]) -> bool:
    steps = [b - a for a, b in zip(values, values[1:])]
    return all(d < 0 for d in steps) or all(d > 0 for d in steps)


def halted(raw: RawResult, meta: dict) -> Verdict | None:
    times = program.update_times(raw)
    if times is None or len(times) < MIN_UPDATES or raw.of_kind(COMPILE):
        return None
    reports = sorted(raw.of_kind(PROGRESS), key=lambda r: float(r.get("t", 0.0)))
    after = [r for r in reports if float(r.get("t", 0.0)) > times[-1]]
    before = reports[:len(reports) - len(after)]
    after = continued(before, after)
    if len(after) < MIN_REPORTS:
        return None
    end = float(after[-1].get("t", 0.0))
    share = (end - times[-1]) / max(end - times[0], 1e-9)
    if share < MIN_SHARE or end - times[-1] < MIN_AFTER_S or moved_after(raw, times[-1]) \
            or curve_after(after) or new_stage(raw, times[-1], before, after):
        return None
    return Verdict("no_update", "updates_ended", f"no optimizer update after the {len(times)}th: "
                   f"the program went on for {end - times[-1]:.1f} s ({share:.0%} of its "
                   f"training time) and {len(after)} more progress reports without one",
                   HINT, {"updates": len(times), "reports_after": len(after),
                          "seconds_after": round(end - times[-1], 2), "share": round(share, 3),
                          "min_updates": MIN_UPDATES, "min_reports": MIN_REPORTS,
                          "min_share": MIN_SHARE})


RULES = (
    Rule("no_update.updates_ended", "records", f">= {MIN_UPDATES} optimizer updates, then >= "
         f"{MIN_REPORTS} progress reports of one shape (the same names), sharing a name with "
         f"the reports before, over >= {MIN_SHARE:.0%} of the time from the first update "
         f"and >= {MIN_AFTER_S:g} s after the last, with none; not a program that calls "
         "mx.compile, nor one whose counter went back after the last update with reports "
         "that carry measures none before did",
         "failure corpus: fresh40 ppo_chunked_learn_resume (mlx-baselines3 25c91f7)", halted),
)
