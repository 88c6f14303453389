"""`wrong_result.zero_score`: a training loss at its floor while every report of an accuracy
is zero (fresh142 `spoken_digits_decoder_targets`: a Whisper-style decoder trained against its
own input tokens, train loss 0.0079 -> 0.0000, greedy digit accuracy 0.000 at the end); and
the shapes near it: an accuracy above zero, a loss not at its floor, a reward at zero."""

from __future__ import annotations

from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult

COPYING = [0.0079, 0.0042, 0.0000, 0.0000, 0.0000, 0.0000]
VALIDATION = [0.0420, 0.0003, 0.0000, 0.0000, 0.0000, 0.0000]  # as measured beside COPYING


def run(losses: list[float], final: dict[str, float]) -> RawResult:
    """The run's reports; its held-out loss as measured for COPYING, else 1.1x the training
    loss (a held-out loss equal to the training one at every report is `same_split`)."""
    val = VALIDATION if losses == COPYING else [1.1 * v for v in losses]
    records = [{"kind": "progress", "source": "output", "step": 25 * (i + 1), "t": float(i),
                "loss": loss, "metrics": {"train_loss": loss, "val_loss": v}}
               for i, (loss, v) in enumerate(zip(losses, val))]
    records.append({"kind": "progress", "source": "output", "step": 25 * len(losses),
                    "t": float(len(losses)), "metrics": final})
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_loss_at_its_floor_with_a_final_accuracy_of_zero_is_a_wrong_result() -> None:
    verdict = classify(run(COPYING, {"digit_accuracy": 0.0, "utterance_accuracy": 0.0}))
    assert verdict.label == "wrong_result:zero_score"
    assert verdict.evidence["accuracy"] == "digit_accuracy"
    assert "shifted" in verdict.hint and "targets" in verdict.hint


def test_an_accuracy_above_zero_is_left_alone() -> None:
    verdict = classify(run(COPYING, {"digit_accuracy": 0.05}))
    assert verdict.detail != "zero_score"


def test_a_loss_not_at_its_floor_is_left_alone() -> None:
    slow = [1.46, 1.2, 1.0, 0.9, 0.85, 0.8]
    assert classify(run(slow, {"digit_accuracy": 0.0})).detail != "zero_score"


def test_a_reward_at_zero_is_an_objective_not_judged() -> None:
    assert classify(run(COPYING, {"reward": 0.0})).detail != "zero_score"


def test_a_baseline_at_zero_beside_a_trained_score_above_it_is_a_comparison() -> None:
    # fresh262 apiary_frame_adapter_reopen_ok: `base acc 0.000 | adapted acc 1.000`
    verdict = classify(run(COPYING, {"base_acc": 0.0, "adapted_acc": 1.0}))
    assert verdict.detail != "zero_score"
    assert classify(run(COPYING, {"base_acc": 0.0, "adapted_acc": 0.0})).label == \
        "wrong_result:zero_score"
