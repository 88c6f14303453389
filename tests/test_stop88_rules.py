"""Stop 88's changes to how a run's output is read, on the lines of the runs that showed each:
- bits per character or byte (`bpc`, `bpb`) are loss measures, and a loss measure the name
  gives as the training one (`train_bpc`, `train_ce`) outranks an unprefixed part of the
  objective: fresh331 `reel_abc_seqwarm` (correct) printed `train_bpc=1.634 zloss=61.19`
  and its auxiliary z-loss, rising on purpose, was read as the loss (`not_learning:trend`).
- an n-gram model's value (`bigram_bpc`, `unigram_bpc`) is a reference, never the loss:
  fresh313 `apiary_ternary_charlm` prints a constant `bigram_bpc` column beside its own.
- a baseline stated after a held-out error's value is that error's only when nothing but its
  value stands between its name and the baseline word: fresh333
  `fleecetable_darkfibre_restarts` (correct) printed `val_bce 0.3292 AP 0.4559 (prevalence
  baseline 0.0555)` and was called `not_learning:worse_than_baseline` (5.7x).
- memorising asks the training loss to end <= 0.5x its first value: fresh333
  `citybike_latch_ticket_priorshift` (correct, a logit adjustment ramped in at a second
  stage) ended its train loss at 0.70x while its val_ce rose 1.8x: `not_learning:memorised`.
- `no_update:params`'s hint names an activation in its flat region for every input from the
  start (fresh334 `lantern_kiln_radiance`, mlx3D 32988ff: a ReLU density head).

Cost: < 1 s (no MLX, no process).
"""

from __future__ import annotations

import pytest

from mlxprobe import metric_names
from mlxprobe.judging.baseline import stated_baseline
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult
from mlxprobe.watching.output import ProgressParser

SEQWARM = ("%%step 30 stage=1 ctx=16 train_bpc=2.877 zloss=27.42 clipped=11/29 "
           "val_bpc@16=2.195 val_bpc@64=3.513 t=1.9s")


def test_the_training_loss_measure_outranks_an_auxiliary_loss() -> None:
    record = ProgressParser().parse(SEQWARM)
    assert record is not None and record["loss"] == 2.877
    assert record["loss_name"] == "train_bpc" and record["metrics"]["zloss"] == 27.42


def test_a_plain_loss_still_outranks_a_training_measure() -> None:
    record = ProgressParser().parse("step 30 loss 2.5 train_ce 2.7 aux_loss 0.1")
    assert record is not None and record["loss"] == 2.5


def test_bits_per_character_are_a_loss_and_an_ngram_value_a_reference() -> None:
    assert metric_names.lower_is_better("val_bpc") is True
    assert metric_names.loss_rank("bigram_bpc") is None
    assert metric_names.loss_rank("unigram_bpc") is None
    assert metric_names.loss_rank("train_bpc") == 1


FLEECE = ("cycle 1 epoch 2 step 250 lr 0.02857 focal 0.01818 val_bce 0.3292 AP 0.4559 "
          "(prevalence baseline 0.0555) best_F1 0.4633")


@pytest.mark.parametrize("text, name, expected", [
    (FLEECE, "val_bce", None),  # the baseline is AP's, stated right after it
    ("val MAE 3.2 (persistence 1.52)", "val_mae", 1.52),
    ("epoch 9 val_mse 0.41 vs baseline 0.97", "val_mse", 0.97),
])
def test_a_baseline_stated_after_the_error_is_the_errors_only_right_beside_it(
        text: str, name: str, expected: float | None) -> None:
    assert stated_baseline(text, name) == expected


# fresh333 `citybike_latch_ticket_priorshift` as printed: a logit adjustment ramped in from
# epoch 6 trades held-out CE for balanced accuracy; the training loss ends at 0.70x its first
PRIOR_TRAIN = [0.6477, 0.4821, 0.4738, 0.4698, 0.4688, 0.4670, 0.4651, 0.4644, 0.4616, 0.4617,
               0.4605, 0.4587, 0.4572, 0.4562, 0.4555, 0.4550]
PRIOR_VAL = [0.4988, 0.4861, 0.4843, 0.4850, 0.4863, 0.4973, 0.5220, 0.6201, 0.6650, 0.7852,
             0.8835, 0.9099, 0.9017, 0.9068, 0.9066, 0.9116]


def epochs(train: list[float], held_out: list[float]) -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": 100 * (i + 1), "t": float(i),
                "loss": loss, "metrics": {"val_ce": value}}
               for i, (loss, value) in enumerate(zip(train, held_out))]
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_held_out_rise_beside_a_training_loss_that_barely_fell_is_no_memorising() -> None:
    assert classify(epochs(PRIOR_TRAIN, PRIOR_VAL)).kind == "pass"
    fitted = [0.6477 * 0.8 ** i for i in range(16)]  # the same rise, the training loss fitted
    assert classify(epochs(fitted, PRIOR_VAL)).label == "not_learning:memorised"


def test_no_parameter_moving_names_an_activation_dead_from_the_start() -> None:
    """fresh334 `lantern_kiln_radiance` (mlx3D 32988ff): a NeRF whose ReLU density head
    started negative everywhere rendered black with every gradient exactly 0; the hint named
    learning rates, stop_gradient and copies, never the activation."""
    records = [{"kind": "step", "source": "update", "step": i, "t": float(i)}
               for i in range(1, 41)]
    records += [{"kind": "params", "step": s, "updates": s, "look": s, "leaves": 4,
                 "compared": 2, "changed": 0, "unchanged": ["density", "color"],
                 "unchanged_count": 2, "nonfinite": [], "moved": 0, "shrunk": []}
                for s in (5, 15, 25, 35)]
    verdict = classify(RawResult(records=records, exit_code=0, watched=True))
    assert verdict.label == "no_update:params"
    assert "ReLU" in verdict.hint and "softplus" in verdict.hint
