"""Stop 88's changes to how a run's output is read, on the lines of the runs that showed each:
- bits per character or byte (`bpc`, `bpb`) are loss measures, and a loss measure the name
  gives as the training one (`train_bpc`, `train_ce`) outranks an unprefixed part of the
  objective: fresh331 `reel_abc_seqwarm` (correct) printed `train_bpc=1.634 zloss=61.19`
  and its auxiliary z-loss, rising on purpose, was read as the loss (`not_learning:trend`).
- an n-gram model's value (`bigram_bpc`, `unigram_bpc`) is a reference, never the loss:
  fresh313 `apiary_ternary_charlm` prints a constant `bigram_bpc` column beside its own.

Cost: < 1 s (no MLX, no process).
"""

from __future__ import annotations

from mlxprobe import metric_names
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
