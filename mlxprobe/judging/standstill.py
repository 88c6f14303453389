"""Rule unit: the parameters stopped changing at some point while optimizer updates went on.

Job: from the parameter looks (`inside/params.py`), the trailing looks in which no
parameter group changed bit for bit although optimizer updates happened since the previous
look, after earlier looks in which parameters did change. Seen when the updates reach
another copy of the model: a `nn.value_and_grad(model, fn)` (or a compiled step) bound to
the model it was built with keeps differentiating that instance after the program replaced
the model (a restart from its best checkpoint, a new model per stage), so the new model's
gradient is 0 and the optimizer moves nothing. (A model frozen from the start is
`params.frozen_all`; a part that never trains, `params.frozen_part`.)

Thresholds and why: at least STILL_LOOKS trailing comparisons (as `params.MIN_LOOKS`;
looks are >= 0.25 s apart) each after updates, spanning at least STILL_SHARE of the run's
optimizer updates: a learning rate that reaches 0 only at the last update, or an
evaluation pass (no updates between looks: no evidence) is never enough. Any optimizer
update with a non-zero gradient and learning rate changes a float32 parameter's bits;
weight decay alone changes them too.
Stands down when the losses reported over the still looks are one value, or fewer than two
were reported there (nothing shows a loss that keeps varying) (FIXED_SPREAD:
a full-batch gradient descent that reached its float32 fixed point, corpus
`dev/missing_optimizer_update_ok`: loss 0.010886 at every report from update ~1000 of
2000, parameters bit-identical; a mini-batch loss of a frozen model keeps varying), and
when there is nothing left to learn (`program.converged`: a loss at its floor,
an accuracy at its ceiling: a hinge or perceptron loss is exactly 0 with zero gradient).
Measured (failure corpus fresh4, `stale_value_and_grad_model`, mlx-swift issue 135): 6
trailing looks unchanged from update 366 to 781 of 781, after 4 looks that changed (median
relative change 0.08-0.36); its fixed twin changes at every look.
The fix it names: a printed learning rate that reached 0 (at most ZERO_RATE x its peak, to
the digits printed) and stayed there to the end, at or before the last look that changed
plus the look interval, is the cause (a schedule that ends before the run: stepped twice per
update, or too short); otherwise the updates reach another copy of the model. Measured
(fresh36 `lr_callback_double_step`, a scheduler advanced by the loop and by a callback): lr
0.00e+00 from step 650 of 1200, parameters unchanged after step 698.

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

from ..protocol import decode_number
from ..watching.facts import RawResult
from . import hints, metrics, params, program
from .rule import Rule, Verdict

STILL_LOOKS = 3
STILL_SHARE = 0.25
FIXED_SPREAD = 1e-4  # relative spread of the losses reported over the still looks
ZERO_RATE = 1e-6  # a printed learning rate at most this share of its peak is 0


def still_tail(compared: list[dict]) -> tuple[dict | None, list[dict]]:
    """(the last look that changed, the looks after it that changed nothing and came after
    updates); (None, []) when no look changed."""
    tail = []
    for index in range(len(compared) - 1, -1, -1):
        look = compared[index]
        if look.get("changed"):
            return look, tail[::-1]
        if index and updates_of(look) > updates_of(compared[index - 1]):
            tail.append(look)
    return None, []


def updates_of(look: dict) -> int:
    return int(look.get("updates", 0))


def fixed_point(raw: RawResult, since: object) -> bool:
    """The losses reported after time `since` (the last look that changed) are one value
    (relative spread <= FIXED_SPREAD): a deterministic loss at a fixed point of its
    optimizer (full-batch descent converged in float32), not a model the updates miss (a
    mini-batch loss keeps varying). With fewer than two losses reported after it nothing
    tells the two apart, and a fixed point is assumed (fresh57 `wifi_rssi_ap_survey`,
    correct: a full-batch Adagrad fit, silent until its summary, whose shrinking steps fell
    below float32's resolution after update 3147 of 8000)."""
    if not isinstance(since, (int, float)):
        return False
    after = [v for r in raw.learning if isinstance(r.get("t"), (int, float))
             and r["t"] > since and (v := decode_number(r.get("loss"))) is not None]
    if len(after) < 2:
        return True
    return max(after) - min(after) <= FIXED_SPREAD * max(abs(v) for v in after)


def stopped(raw: RawResult, meta: dict) -> Verdict | None:
    compared = params.judged(raw)
    if compared is None:
        return None
    moved, tail = still_tail(compared)
    if moved is None or len(tail) < STILL_LOOKS:
        return None
    since, last = updates_of(moved), updates_of(tail[-1])
    if last - since < STILL_SHARE * last or fixed_point(raw, moved.get("t")) \
            or program.converged(program.losses(raw), metrics.series(raw)):
        return None
    ended = rate_ended(raw, moved.get("step"))
    ev = {"last_changed_step": moved.get("step"), "last_changed_update": since,
          "unchanged_looks": len(tail), "last_update": last, "still_looks": STILL_LOOKS,
          "still_share": STILL_SHARE, "learning_rate_zero_from_step": ended}
    return Verdict("no_update", "stopped", f"no parameter changed in the last {len(tail)} "
                   f"looks (updates {since} to {last}, after step {moved.get('step')}) while "
                   "the optimizer kept updating; they changed before",
                   _hint(ended, moved.get("step")), ev)


def _hint(ended: int | None, step: object) -> str:
    """The schedule's end when the printed rate was 0 by then; else another copy of the
    model."""
    if ended is None:
        return hints.STOPPED.format(step=step)
    return hints.RATE_ENDED.format(since=ended, step=step)


def zero_rate_from(rates: list[tuple[int, float]]) -> int | None:
    """The step from which a printed learning rate sat at 0 (<= ZERO_RATE x its peak) to
    the end of the run, or None when it never did or rose again."""
    peak = max((v for _, v in rates), default=0.0)
    if peak <= 0:
        return None
    trailing = [v <= ZERO_RATE * peak for _, v in rates][::-1].index(False)  # the peak is not
    return rates[len(rates) - trailing][0] if trailing else None


def rate_ended(raw: RawResult, step: object) -> int | None:
    """The step from which the printed rate was 0, when that was by the time nothing changed
    (`step`, the last look that changed)."""
    since = zero_rate_from(metrics.series(raw).get("learning_rate", []))
    return since if isinstance(step, int) and since is not None and since <= step else None


RULES = (
    Rule("no_update.stopped", "params", f">= {STILL_LOOKS} trailing looks after updates "
         f"with nothing changed, spanning >= {STILL_SHARE:.0%} of the updates, after looks "
         "that changed; the losses reported over them not one value (a fixed point)",
         "failure corpus: stale_value_and_grad_model (mlx-swift issue 135); the fix from a "
         f"printed learning rate <= {ZERO_RATE:g} x its peak: fresh36 lr_callback_double_step",
         stopped),
)
