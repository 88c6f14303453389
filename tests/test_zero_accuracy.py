"""`not_learning.opposed`: a loss that falls while the task's accuracy sits at zero (fresh7's
cosine_similarity_minimized: the similarity minimised); and the shapes near it that are
learning or not judged: an accuracy that leaves 0, a reward at 0, a loss that does not fall,
too few reports."""

from __future__ import annotations

from mlxprobe.judging.verdict import classify
from mlxprobe.judging.zero_accuracy import MIN_REPORTS, zeroed
from mlxprobe.watching.facts import RawResult


def run(losses: list[float], accs: list[float], name: str = "recall@1") -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": 150 * (i + 1), "t": float(i),
                "loss": loss, "metrics": {"cos_loss": loss, name: acc}}
               for i, (loss, acc) in enumerate(zip(losses, accs))]
    return RawResult(records=records, exit_code=0, watched=True)


FALLING = [-0.9424 - 0.002 * i for i in range(11)]


def test_a_falling_loss_with_an_accuracy_at_zero_is_opposed() -> None:
    verdict = classify(run(FALLING, [0.006] + [0.0] * 10))
    assert verdict.label == "not_learning:opposed"
    assert "1 - cos" in verdict.hint and verdict.evidence["accuracy"] == "recall@1"


def test_an_accuracy_that_leaves_zero_is_learning() -> None:
    losses = [10.8 - 0.3 * i for i in range(11)]
    assert zeroed(run(losses, [0.0, 0.0, 0.0004, 0.002, 0.01] + [0.05] * 6, "acc")) is None
    assert classify(run(losses, [0.0] * 3 + [0.002] * 8, "acc")).detail != "opposed"


def test_a_reward_at_zero_is_an_objective_not_judged() -> None:
    assert zeroed(run(FALLING, [0.0] * 11, "reward")) is None


def test_a_loss_that_does_not_fall_is_not_opposed() -> None:
    flat = [0.5 + 0.01 * (-1) ** i for i in range(11)]
    assert classify(run(flat, [0.0] * 11)).detail != "opposed"


def test_too_few_reports_are_not_judged() -> None:
    assert zeroed(run(FALLING[:MIN_REPORTS], [0.0] * MIN_REPORTS)) is None
