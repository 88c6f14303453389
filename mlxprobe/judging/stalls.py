"""Fix hints for a run that does not learn, chosen from what its metrics show.

Job: the text of a `not_learning` verdict; it never decides a verdict. `hint(series,
losses)` tries each fact below in order and gives the first one's hint, None when none
holds (the verdict keeps `hints.NOT_LEARNING`). Each holds on at least MIN_REPORTS reports
(as `program.TREND_MIN_POINTS`: fewer say nothing of a run):
- zero loss: every loss report is exactly 0 (to the digits printed): a loss with no
  gradient (every term masked out), or a policy-gradient surrogate, whose value is ~0 by
  construction (mlx-examples PR 1233's GRPO logs: loss 0.000 and every reward 0.000 for
  170 iterations).
- tiny rate: the program reports its learning rate and it was at most TINY_RATE (1e-6)
  or at most FLOOR_SHARE (1%) of its own peak at TINY_SHARE (half) or more of its
  reports. A cosine decay spends only its last ~6% below 1% of its peak, so half the run
  there is a schedule that reached its floor early (mlx-examples issue 985: `decay_steps`
  counted in epochs, 1e-7 from step 22 of 600).
- policy gradient: a reward-like metric (`policy`).
- constant loss: every loss report has the same non-zero value. The output no longer
  depends on the parameters: units saturated or dead after too large a step (mlx issue
  188: SGD at 1e-1 on raw pixels, a net that predicts one class), or a loss computed from
  something that does not change.

Must not import: mlx, the watching side's runner, reporters.
"""

from __future__ import annotations

import math

from . import policy, variational

MIN_REPORTS = 10
TINY_RATE = 1e-6
FLOOR_SHARE = 0.01
TINY_SHARE = 0.5
Series = dict[str, list[tuple[int, float]]]

ZERO_LOSS = (
    "the loss was exactly 0 at all {n} reports (to the digits printed): either it has no "
    "gradient (a mask or weight that zeroes every term: every label at the ignore index "
    "-100, a response-only loss mask whose "
    "assistant or role token never occurs in the tokenized chat template selects no token, "
    "check `mask.sum() > 0` on a batch; targets copied from the predictions; a "
    "log_softmax or softmax taken over an axis of size 1, the wrong axis, gives "
    "log-probabilities of exactly 0: logits laid out (batch, classes, ...) or channels "
    "first and normalised over the last axis, pass `axis=1`, or check the axis the loss "
    "reduces against `logits.shape`), or it is "
    "a policy-gradient surrogate, ~0 by construction with "
    "normalised advantages, so judge it by its reward: " + policy.PG_CHECKS)
TINY = (
    "the learning rate was at most {low:.3g} at {k} of {n} reports (peak {peak:.3g}): the "
    "updates were too small to move the loss: a schedule that reached its floor early "
    "(`cosine_decay`'s decay_steps, or a warmup, counted in epochs or samples instead of "
    "optimizer steps) or a rate set far too low; count schedule lengths in optimizer "
    "updates, `optim.cosine_decay(lr, decay_steps=epochs * steps_per_epoch)`, and check "
    "`optimizer.learning_rate` at the first reports")
CONSTANT = (
    "the loss was {v:.6g} at every one of {n} reports: the output no longer depends on the "
    "parameters or the inputs: units saturated or dead after too large a step (dead ReLUs, "
    "a classifier that predicts one class, a loss stuck at ln(classes)): lower the "
    "learning rate 10x and scale the inputs to ~unit range; or the loss is computed from "
    "something that does not change (an `mx.stop_gradient` or cached value)")


def hint(series: Series, losses: list[float], loss_name: str = "loss") -> str | None:
    """The first fact's hint (see the module's docstring), or None."""
    finite = [v for v in losses if math.isfinite(v)]
    return zero_loss(finite) or (tiny_rate([v for _, v in series.get("learning_rate", [])])
            or policy.flat_hint(series) or variational.flat_hint([loss_name, *series])
            or constant_loss(finite))


def zero_loss(finite: list[float], least: int = MIN_REPORTS) -> str | None:
    """ZERO_LOSS when every one of >= `least` finite loss reports is exactly 0 (also
    the lead of a `no_update` whose parameters never moved: fresh26 `role_token_mask`,
    loss 0.0000 at all 15 reports, an SFT mask that selected no token)."""
    if len(finite) >= least and all(v == 0 for v in finite):
        return ZERO_LOSS.format(n=len(finite))
    return None


def tiny_rate(rates: list[float]) -> str | None:
    """TINY when the rate sat at its floor for TINY_SHARE of its reports (a rate of 0 is
    `no_update`'s, never this)."""
    if len(rates) < MIN_REPORTS or min(rates) <= 0:
        return None
    peak = max(rates)
    low = [r for r in rates if r <= TINY_RATE or r <= FLOOR_SHARE * peak]
    if len(low) < TINY_SHARE * len(rates):
        return None
    return TINY.format(low=max(low), k=len(low), n=len(rates), peak=peak)


def constant_loss(finite: list[float]) -> str | None:
    if len(finite) < MIN_REPORTS or len(set(finite)) != 1:
        return None
    return CONSTANT.format(v=finite[0], n=len(finite))
