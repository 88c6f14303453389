"""`judging/elsewhere`: a loss read by its name that rises while the run learns on another
measure (an accuracy that rose, another task's error that fell) is not an explosion and not
a stall (fresh8's correct_active_learning_rounds and correct_task_switch_ewc); a run whose
every measure gets worse still diverges."""

from __future__ import annotations

from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult


def run(metrics: list[dict[str, float]], loss_name: str) -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": 10 * (i + 1), "t": float(i),
                "loss": m[loss_name], "loss_name": loss_name, "metrics": m}
               for i, m in enumerate(metrics)]
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_summed_loss_that_grows_while_the_accuracy_rises_passes() -> None:
    rows = [{"train_ce_sum": 1.0 + 2.0 * i, "test_acc": min(0.996, 0.96 + 0.01 * i)}
            for i in range(12)]
    verdict = classify(run(rows, "train_ce_sum"))
    assert verdict.kind == "pass" and "test_acc" in verdict.reason


def test_the_error_of_a_task_no_longer_trained_is_not_the_objective() -> None:
    rows = [{"mse_a": 0.003 if i < 6 else 0.35, "mse_b": 0.75 if i < 6 else 0.003}
            for i in range(12)]
    verdict = classify(run(rows, "mse_a"))
    assert verdict.kind == "pass" and "mse_b" in verdict.reason


def test_a_run_worse_on_every_measure_still_diverges() -> None:
    rows = [{"loss": 0.5 * 1.5 ** i, "acc": max(0.1, 0.9 - 0.05 * i)} for i in range(12)]
    assert classify(run(rows, "loss")).label == "diverged:exploding"
    rows = [{"mse_a": 0.1 * 1.5 ** i, "mse_b": 0.1 * 1.4 ** i} for i in range(12)]
    assert classify(run(rows, "mse_a")).kind == "diverged"
