"""`wrong_result.below_floor`: a held-out loss below the entropy floor the program states
(fresh183 `patchcap_imgblock_mask`, fresh170 `softcap_markov_lm`, fresh46
`unset_attn_mask_lm`: an attention mask that lets a position see the token it predicts),
against the correct shapes near it."""

from __future__ import annotations

import pytest

from mlxprobe.judging.below_floor import held_out_loss, stated_floor
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult


def run(val: list[float], name: str = "val", text: str = "") -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": i + 1, "t": float(i),
                "loss": 1.0 - 0.01 * i, "metrics": {name: v}} for i, v in enumerate(val)]
    floor = text or "entropy floor of the caption chain ~ 0.879 nats/token"
    return RawResult(records=records, exit_code=0, watched=True, stdout_tail=floor + "\n")


def test_a_held_out_loss_far_below_the_stated_floor_is_a_wrong_result() -> None:
    v = classify(run([0.1954, 0.1377, 0.1277, 0.1130, 0.1114, 0.1150]))
    assert v.label == "wrong_result:below_floor"
    assert v.evidence["floor"] == 0.879 and "mask" in v.hint and "causal" in v.hint


def test_a_held_out_loss_a_little_below_its_floor_passes_as_noise() -> None:
    # softcap_markov_lm's fixed twin at its floor; unset_attn_mask_lm's at 1.9% below
    text = "entropy-rate floor: 1.445 nats/token  (uniform guess 2.485)"
    assert classify(run([1.468, 1.447, 1.443, 1.445], "heldout_nll", text)).label == "pass"
    text = "reference: uniform CE 2.773, true chain entropy 1.465 nats"
    assert classify(run([1.48, 1.4376, 1.4697], "val_ce", text)).label == "pass"


@pytest.mark.parametrize("text", [
    "label smoothing 0.1: smoothed-loss floor 0.291 nats",  # another loss's floor
    "policy entropy 0.40 nats",  # an RL policy's entropy, no floor of the data
    "entropy floor of the chain ~ 0.879",  # no unit: not known to be the loss's
    "",
])
def test_no_stated_entropy_floor_no_verdict(text: str) -> None:
    assert stated_floor(text + "\n") is None


def test_one_report_below_or_a_floor_in_other_units_is_not_enough() -> None:
    assert classify(run([0.9, 0.5, 0.95])).label == "pass"  # the last report is above
    bits = "entropy floor ~ 0.879 bits/char"
    assert classify(run([0.2, 0.2, 0.2], "val_ce", bits)).label == "pass"  # nats vs bits


@pytest.mark.parametrize("name, beside, expected", [
    ("heldout_nll", False, True), ("teacher_forced_val_ce", False, True),
    ("val_bpc", False, True), ("val", True, True), ("val", False, False),
    ("val_acc", False, False), ("train_nll", False, False), ("test_top1", True, False),
])
def test_held_out_losses_by_name(name: str, beside: bool, expected: bool) -> None:
    assert held_out_loss(name, beside) is expected


@pytest.mark.parametrize("text, expected", [
    # fresh195 bigcode_motif (mlx-lm 103877e): the floor beside the held-out loss it bounds
    ("Val loss 0.002 (entropy floor 0.693)", (0.693, "nats")),
    ("val_bpc 0.3 (entropy floor 0.9)", None),  # a loss in bits: the unit is not nats
    ("train loss 0.002 (entropy floor 0.693)", None),  # not a held-out loss
])
def test_a_floor_with_no_unit_beside_a_held_out_loss(text: str, expected) -> None:
    assert stated_floor(text + "\n") == expected


def test_a_held_out_loss_below_a_floor_stated_beside_it_is_a_wrong_result() -> None:
    text = "Val loss 0.002 (entropy floor 0.693)"
    v = classify(run([0.188, 0.011, 0.004, 0.002], "val_loss", text))
    assert v.label == "wrong_result:below_floor" and v.evidence["unit"] == "nats"
