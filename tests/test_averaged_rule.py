"""`judging.averaged`: an epoch's printed average checked against the batch values printed
before it, on the run shape of a loss multiplied back by the accumulation steps and on
correct ones (an average inside its batches' range, a first epoch above its late sample, a
validation average)."""

from __future__ import annotations

import pytest

from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult

EPOCHS, BATCHES = 12, 4  # batch lines per epoch


def run(average, name: str = "avg_loss") -> RawResult:
    """EPOCHS epochs of 16 updates, a batch line every 4 updates, then `name` printed as
    `average(epoch, batch_losses)`."""
    records, step, t = [], 0, 0.0
    for epoch in range(EPOCHS):
        parts = []
        for b in range(BATCHES):
            step, t = step + 4, t + 0.04
            loss = 1.0 / (1 + epoch) * (1.1 if b % 2 else 0.9)
            parts.append(loss)
            records.append({"kind": "progress", "source": "output", "step": step, "t": t,
                            "loss": loss})
        records.append({"kind": "progress", "source": "output", "step": step, "t": t + 0.001,
                        "loss": average(epoch, parts), "loss_name": name})
    return RawResult(records=records, exit_code=0, watched=True)


def mean(epoch: int, parts: list[float]) -> float:
    return sum(parts) / len(parts)


def test_an_average_several_times_every_batch_value_is_wrong_result():
    v = classify(run(lambda e, p: 10 * mean(e, p)))  # fresh47's run: 10.4-10.8x
    assert v.label == "wrong_result:averaged"
    assert v.evidence["metric"] == "avg_loss" and v.evidence["base"] == "loss"
    assert v.evidence["windows"] == EPOCHS // 2 and v.evidence["factors"][0] >= 9
    assert "accumulation steps" in v.hint


def test_an_average_far_below_every_batch_value_is_wrong_result():
    assert classify(run(lambda e, p: mean(e, p) / 8)).label == "wrong_result:averaged"


@pytest.mark.parametrize("average", [
    mean,
    lambda e, p: 1.8 * max(p),  # near its parts, by sampling noise
    lambda e, p: 10 * mean(e, p) if e < EPOCHS // 2 else mean(e, p),  # early epochs only
])
def test_an_average_within_its_parts_or_off_only_early_is_not_judged(average):
    assert classify(run(average)).kind == "pass"


def test_a_validation_average_is_not_the_training_batches_average():
    assert classify(run(lambda e, p: 10 * mean(e, p), name="val_avg_loss")).kind == "pass"


def test_a_running_mean_never_reset_above_a_fast_falling_loss_is_not_judged():
    """A mean of every batch since the start: above the recent batches while the early
    values weigh, by a factor that shrinks report after report."""
    history: list[float] = []

    def running(epoch: int, parts: list[float]) -> float:
        history.extend([3.0] * 4 if epoch == 0 else [])  # the first, unprinted batches
        history.extend(parts)
        return sum(history) / len(history)

    assert classify(run(running)).kind == "pass"
