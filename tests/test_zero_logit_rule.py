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


def test_a_discriminator_at_ln2_and_half_right_is_a_gan_at_equilibrium():
    """fresh74 bus_headway_gan_csv (correct): d_loss 0.673 -> 0.693 with its accuracy on real
    samples at ~50% is the equilibrium both players seek, neither zero logits nor chance."""
    d_loss = [0.6732, 0.6702, 0.6945, 0.6949, 0.6939, 0.6935, 0.6940, 0.6932, 0.6933, 0.6932,
              0.6932, 0.6932]
    acc = [41.4, 37.5, 58.1, 51.9, 49.0, 53.9, 49.7, 50.5, 50.9, 48.1, 51.2, 49.8]
    records = [{"kind": "progress", "source": "output", "step": 250 * (i + 1), "t": float(i),
                "loss": d, "loss_name": "d_loss",
                "metrics": {"d_loss": d, "g_loss": 0.69 + 0.001 * i, "d_acc_real_pct": a}}
               for i, (d, a) in enumerate(zip(d_loss, acc))]
    assert classify(RawResult(records=records, exit_code=0, watched=True)).kind == "pass"
    for record in records:
        record["loss_name"] = "bce"
        record["metrics"] = {"bce": record["loss"], "acc": record["metrics"]["d_acc_real_pct"]}
    assert classify(RawResult(records=records, exit_code=0, watched=True)).kind == "not_learning"
