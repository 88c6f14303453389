"""`wrong_result.below_chance`: every accuracy at 0 at all its reports while the program
states that a guess scores more (fresh255 `harbor_manifest_tagger`: mlx-lm's loss_test
gathered the logits at `indices - 1`, lane accuracy 0.0% at all three epochs, chance 25.0%);
and the shapes near it: no stated chance, a chance loss (not an accuracy), an accuracy above
zero, too few reports."""

from __future__ import annotations

from mlxprobe.judging import below_chance
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult

LOSSES = [2.914, 2.811, 2.79, 2.754, 2.776, 2.767, 2.755, 2.761, 2.753]


def run(accuracies: list[float], tail: str) -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": 30 * (i + 1), "t": float(i),
                "loss": loss} for i, loss in enumerate(LOSSES)]
    records += [{"kind": "progress", "source": "output", "step": 90 * (i + 1),
                 "t": 3.0 * (i + 1) + 0.5, "metrics": {"lane_accuracy": a}}
                for i, a in enumerate(accuracies)]
    return RawResult(records=records, exit_code=0, watched=True, stdout_tail=tail)


STATED = "chance lane accuracy 25.0% | final lane accuracy 0.0%\n"


def test_every_accuracy_at_zero_below_a_stated_chance_is_a_wrong_result() -> None:
    verdict = classify(run([0.0, 0.0, 0.0], STATED))
    assert verdict.label == "wrong_result:below_chance"
    assert verdict.evidence["chance_stated"] == 0.25
    assert "indices - 1" in verdict.hint and "shifted by one" in verdict.hint


def test_no_stated_chance_or_a_chance_loss_is_left_alone() -> None:
    assert classify(run([0.0, 0.0, 0.0], "")).detail != "below_chance"
    loss_only = "chance loss ln(4) = 1.386\n"
    assert classify(run([0.0, 0.0, 0.0], loss_only)).detail != "below_chance"


def test_an_accuracy_above_zero_or_too_few_reports_is_left_alone() -> None:
    assert classify(run([0.0, 0.02, 0.0], STATED)).detail != "below_chance"
    assert classify(run([0.0, 0.0], STATED)).detail != "below_chance"


def test_the_stated_chance_is_read_as_a_fraction_in_its_common_spellings() -> None:
    assert below_chance.stated("val acc 0.234 (chance 0.250)") == 0.25
    assert below_chance.stated("acc 3.1% (chance = 10.0%, lr 1e-3)") == 0.1
    assert below_chance.stated("chance cross-entropy 2.303") is None
    assert below_chance.stated("chance level: acc@1=0.100") is None
