"""Rule unit: the training loss falls while the held-out loss rises past where it started.

Job: a model that learns its task improves on held-out data of that task, at least at
first; overfitting by design (a small training set, too many epochs) lifts the held-out loss
a little from its best. When the training loss falls significantly while the held-out loss
ends well above both its first evaluation and its best, the model learns what it is shown
and nothing of the task: it is shown too little (an exhausted data iterator restarted into a
local variable serves the first chunk again and again; a dataset sliced to one batch; a
shuffle never applied), or something else than what it is scored on (train and held-out
data prepared differently).

Thresholds and why: the training loss's trend falls significantly (Mann-Kendall p < 0.05,
`program.significant_fall`); a held-out loss (`metric_names.held_out`, role loss) with >=
MIN_EVALS evaluations since the program's counter last restarted (`phases.restart_times`: a
second stage starts a new model or task) whose last fifth's median is >= ROSE x its first
evaluation there and >= ROSE x its best. Measured: failure corpus fresh102
`shard_restart_first_chunk` (AnarchoBot commit 314cfa8: the restarted iterator bound to a
local name): train loss 3.18 -> 0.043 while val_loss went 3.18 -> 9.78 (3.07x its first); the
fixed twin's val_loss 3.18 -> 2.73. Over every kept corpus run whose training loss fell
significantly, no correct run's held-out loss ends above 1.11x its first evaluation
(fresh52 `beer_lambert_unmix_patience`); ROSE = 1.5 leaves that margin. And the held-out
loss's end must stand >= GAP x the training loss's end (each the median of its last fifth):
a model that learns what it is shown and not the task fits the first better. Measured:
fresh102's broken run ends at train 0.043 against val 9.78; the correct fresh134
`organpipe_voicing_betavae_allsum` (a VAE whose KL weight restarts a 0.245 -> 1.0 ramp every
8 epochs) ends at train_recon 1.33 against val_recon 1.38, both having risen with the weight
from 0.47-0.49 at a cycle's first epoch: its held-out reconstruction rose 2.9x its best with
its training reconstruction, a changed objective, not memorising. And the training loss must
end (its last fifth's median) <= FIT x its first value: the model fitted what it is shown.
Measured: fresh102's train loss ended at 0.014x its first (3.18 -> 0.043), fresh135
`padmask_vlm_ce`'s at 0.0004x (2.93 -> 0.0012); the correct fresh333
`citybike_latch_ticket_priorshift` (a logit adjustment ramped in at a second stage, trading
held-out CE for balanced accuracy) at 0.70x (0.648 -> 0.455) while its val_ce rose 1.8x.
FIT = 0.5 sits between.

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import statistics

from ..watching.facts import RawResult
from . import hints, phases, program
from .rule import Rule, Verdict

ROSE = 1.5
GAP = 1.5  # the held-out loss's end over the training loss's end
FIT = 0.5  # the training loss's end over its first value, at most
MIN_EVALS = 5
TAIL_SHARE = 0.2  # the last fifth of the evaluations: where the held-out loss ended

HINT = ("the training loss fell while the held-out loss `{name}` rose to {times:.3g}x where "
        "it started: the model learns what it is shown, not the task. Check that the "
        "training data changes from step to step: a data iterator restarted into a local "
        "variable (`new_iter = iter(...)`; the loop keeps reading the old one, or the first "
        "batch again) must be assigned back to the name the loop reads (`nonlocal`/`global`, "
        "or return it); a dataset sliced to one batch; a shuffle whose result is never used; "
        "and that train and held-out data get the same preprocessing and targets")


def risen(values: list[float]) -> float | None:
    """How many times its first evaluation the held-out loss ended at, when it ended >= ROSE
    x both its first and its best; else None."""
    if len(values) < MIN_EVALS or values[0] <= 0:
        return None
    tail = ending(values)
    return tail / values[0] if tail >= ROSE * values[0] and tail >= ROSE * min(values) \
        else None


def ending(values: list[float]) -> float:
    """The median of a series' last fifth: where it ended."""
    return statistics.median(values[-max(1, int(len(values) * TAIL_SHARE)):])


def apart(values: list[float], trained: float) -> bool:
    """The held-out loss ended >= GAP x the training loss's end: a model that learns what it
    is shown and not the task fits the first better than the second."""
    return ending(values) >= GAP * trained


def hint(raw: RawResult, name: str, times: float) -> str:
    """The hint, and where the training loss fell to ~0 (`program.fell_to_floor`), the
    answer leaking into the training input as a cause too (fresh135 `padmask_vlm_ce`,
    unsloth-zoo c78b916: a padding mask handed in as the whole attention mask, train CE
    2.93 -> 0.0012 while the causal held-out CE went 2.68 -> 1.92 -> 7.75)."""
    text = HINT.format(name=name, times=times)
    if program.fell_to_floor(program.losses(raw)):
        text += (f"; a training loss at ~0 (<= {program.FLOOR_FALL:g}x its first) also "
                 f"points to the answer in what the training forward is handed: "
                 f"{hints.ANSWER_LEAKS}")
    return text


def fitted(values: list[float]) -> bool:
    """The training loss ended (`ending`) <= FIT x its first value: the model fitted what it
    is shown, as memorising needs. A training loss that moved a few percent while the
    held-out loss rose is a changed objective (fresh333 `citybike_latch_ticket_priorshift`,
    correct: a logit adjustment ramped in at a second stage trades held-out CE, 0.48 -> 0.91,
    for balanced accuracy, 0.49 -> 0.70, while train_loss ends at 0.70x its first and 0.96x
    where stage 2 began)."""
    return bool(values) and values[0] > 0 and ending(values) <= FIT * values[0]


def memorised(raw: RawResult, meta: dict) -> Verdict | None:
    loss = program.significant_fall(raw)
    if loss is None:
        return None
    shown = program.losses(raw)  # the loss the model is shown
    if not fitted(shown):
        return None
    trained = ending(shown)
    for name, values in phases.held_out_since_restart(raw).items():
        times = risen(values)
        if times is not None and apart(values, trained):
            return Verdict("not_learning", "memorised", f"{program.fall_words(loss)} while "
                           f"the held-out loss `{name}` went from {values[0]:.4g} to "
                           f"{values[-1]:.4g} ({times:.3g}x its first evaluation, >= "
                           f"{ROSE:g}x its best too)", hint(raw, name, times),
                           {"metric": name, "first": values[0], "last": values[-1],
                            "best": min(values), "times_first": round(times, 3),
                            "rose_min": ROSE, "evaluations": len(values),
                            "trained_tail": trained, "gap_min": GAP,
                            "loss_trend": loss})
    return None


RULES = (
    Rule("not_learning.memorised", "metrics", f"the training loss falls significantly (p < "
         f"{program.TREND_P}) while a held-out loss (>= {MIN_EVALS} evaluations since the "
         f"counter last restarted) ends (its last fifth's median) >= {ROSE:g}x its first "
         f"evaluation and its best, and >= {GAP:g}x the training loss's end, which is <= "
         f"{FIT:g}x its first value",
         "failure corpus: fresh102 shard_restart_first_chunk "
         "(AnarchoBot 314cfa8); no correct corpus run above 1.11x; the gap: fresh134 "
         "organpipe_voicing_betavae_allsum; the fit: fresh333 citybike_latch_ticket_priorshift",
         memorised),
)
