"""`not_learning.zero_logit`: a logistic loss pinned at ln 2 (every logit 0), as a sigmoid
applied before `binary_cross_entropy` leaves it; and the correct shapes near it: a plateau at
ln 2 that breaks into a real fall, a loss that passes through ln 2, noisy labels whose floor is
just under ln 2."""

from __future__ import annotations

import math

from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult


def run(losses: list[float]) -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": i + 1, "t": float(i),
                "loss": v, "loss_name": "train_bce", "metrics": {"train_bce": v}}
               for i, v in enumerate(losses)]
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_loss_pinned_at_ln2_is_not_learning_zero_logit():
    """b10_bce_sigmoid_twice as measured."""
    losses = [0.7198] + [0.6932] * 5 + [0.6931, 0.6931, 0.6925, 0.6853, 0.6813, 0.6795]
    verdict = classify(run(losses))
    assert (verdict.kind, verdict.detail) == ("not_learning", "zero_logit")
    assert verdict.evidence["pinned_reports"] == 8 and "with_logits" in verdict.hint


def test_a_plateau_that_breaks_a_passing_value_or_a_noisy_floor_is_not_zero_logit():
    broke = [0.6931] * 6 + [0.5, 0.3, 0.2, 0.1, 0.08, 0.06]
    assert classify(run(broke)).detail != "zero_logit"
    through = [0.9 - 0.02 * i for i in range(20)]
    assert classify(run(through)).detail != "zero_logit"
    noisy = [0.70 - 0.012 * (1 - 0.7 ** i) + 0.0005 * math.sin(i) for i in range(20)]
    assert classify(run(noisy)).detail != "zero_logit"
