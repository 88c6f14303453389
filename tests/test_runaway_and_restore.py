"""Stop 63's rule changes on run shapes: `diverged.runaway` (a loss that falls below zero
with no floor, fresh171 `glyph_duel_klsign`) against the correct shapes near it, and
`wrong_result.reverted` naming a best-checkpoint comparison run the wrong way when the value
it came back to is the worst of several evaluations (fresh171 `quill_perplexity_restore`);
a crash raised by the program's own non-finite check led by the divergence's causes (fresh172
`ferrybell_fp16_lm`)."""

from __future__ import annotations

import pytest

from mlxprobe.judging.runaway import ran_away
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult


def losses(values: list[float]) -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": 50 * (i + 1), "t": float(i),
                "loss": v, "metrics": {}} for i, v in enumerate(values)]
    return RawResult(records=records, exit_code=0, watched=True)


KLSIGN = [0.6931, -1419.4, -9.1e3, -3.3e4, -8.0e4, -1.6e5, -2.6e5, -3.9e5, -5.4e5, -7.1e5,
          -8.9e5, -1.06e6]


def test_a_loss_that_runs_off_below_zero_is_diverged_runaway() -> None:
    v = classify(losses(KLSIGN))
    assert v.label == "diverged:runaway"
    assert v.evidence["loss_last"] == -1.06e6 and "sign" in v.hint and "clamp" in v.hint


@pytest.mark.parametrize("values", [
    [2.1, 1.2, 0.4, -0.8, -1.9, -2.6, -3.0, -3.1, -3.1, -3.2],  # a Gaussian NLL at a floor
    [-20.0, -80.0, -160.0, -300.0, -420.0, -480.0, -500.0, -505.0],  # -return of an RL run
    [0.69, -5e3, -2e4, -5e4, -8e4, -9e4, -9.5e4, -9.7e4],  # far off, but settled at a floor
    [0.69, 0.4, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0],  # the fixed twin: clamped at 0
    [0.69, -1e4, -1e5, -1e6, 0.5, 0.4],  # back above zero at the end
])
def test_a_negative_loss_that_settles_or_returns_is_not_runaway(values: list[float]) -> None:
    assert ran_away(values) is None


def update(t: float) -> dict:
    return {"kind": "step", "source": "update", "step": int(t * 100), "t": t}


def report(t: float, step: int, **metrics: float) -> dict:
    return {"kind": "progress", "source": "output", "step": step, "t": t, "metrics": metrics}


def restored(evaluations: list[float], back: int = 0) -> RawResult:
    """Evaluations every 100 updates, then after the last update one in memory and one of
    the checkpoint restored (evaluation `back`'s value)."""
    records: list[dict] = []
    for i, value in enumerate(evaluations):
        records += [update(i + 0.001 * k) for k in range(1, 101)]
        records.append(report(i + 0.5, 100 * (i + 1), eval_perplexity=value))
    total = 100 * len(evaluations)
    records.append(report(len(evaluations) + 1.0, total, eval_perplexity=evaluations[back]))
    return RawResult(records=records, exit_code=0, watched=True)


def test_the_worst_checkpoint_restored_names_the_comparison_run_the_wrong_way() -> None:
    v = classify(restored([6.37, 3.51, 3.14, 3.05]))
    assert v.label == "wrong_result:reverted"
    assert "lower-is-better" in v.hint and "`<`" in v.hint and "eval_perplexity" in v.hint


def test_a_reverted_value_that_is_not_the_worst_keeps_the_plain_hint() -> None:
    v = classify(restored([8.0, 6.37, 3.14, 3.05], back=1))
    assert v.label == "wrong_result:reverted" and "lower-is-better" not in v.hint


def test_a_restored_best_checkpoint_that_kept_its_gain_is_no_reload() -> None:
    """fresh203 `stride_tagger_bestckpt_ok`: early stopping restores the step-225 best (chosen
    by accuracy), its eval loss 0.0070 against 0.0019 after the last update, out of 3.19."""
    v = classify(restored([3.19, 1.2, 0.2, 0.007, 0.0019], back=3))
    assert v.label != "wrong_result:reverted"
    assert classify(restored([3.19, 1.2, 0.2, 0.007, 0.0019], back=0)).label == \
        "wrong_result:reverted"


def guarded(message: str) -> RawResult:
    """A float16 model whose program raised from its own check at step 1."""
    census = {"kind": "params", "step": 1, "updates": 1, "look": 1, "leaves": 0,
              "compared": 0, "census": [{"model": "TinyLM", "trainable_values": 16864,
                                         "trainable_dtypes": {"float16": 16864}}]}
    stderr = ('Traceback (most recent call last):\n  File "train.py", line 124, in <module>\n'
              f"    raise FloatingPointError(\nFloatingPointError: {message}\n")
    return RawResult(records=[census], exit_code=1, watched=True, stderr_tail=stderr)


def test_a_program_stopping_itself_on_a_non_finite_loss_gets_the_divergence_causes() -> None:
    v = classify(guarded("Non-finite at step 1: loss=inf, grad_norm=0.79"))
    assert v.label == "crash:FloatingPointError"
    assert v.hint.startswith("the program stopped itself on a non-finite loss")
    assert "float32" in v.hint and "65504" in v.hint


def test_another_error_of_the_program_keeps_its_plain_hint() -> None:
    v = classify(guarded("step budget exhausted at step 1"))
    assert v.label == "crash:FloatingPointError" and "non-finite loss" not in v.hint


def evaluated(val: float, test: float, loss_end: float = 0.001) -> RawResult:
    """Five folds' validation reports, then a final test accuracy."""
    records = [{"kind": "progress", "source": "output", "step": 25, "t": float(i),
                "loss": 0.5 / (i + 1) if i < 4 else loss_end,
                "metrics": {"fold": float(i + 1), "validation_acc": val}} for i in range(5)]
    records.append({"kind": "progress", "source": "output", "step": 25, "t": 6.0,
                    "metrics": {"accuracy": val, "test_accuracy": test}})
    return RawResult(records=records, exit_code=0, watched=True)


def test_validation_at_its_ceiling_far_above_the_test_is_wrong_result() -> None:
    v = classify(evaluated(val=1.0, test=0.516))
    assert v.label == "wrong_result:split_gap"
    assert "fresh model" in v.hint and "each fold" in v.hint


@pytest.mark.parametrize("val, test, loss_end", [
    (0.93, 0.5, 0.001),  # below the ceiling
    (1.0, 0.8, 0.001),  # within the gap
    (100.0, 98.7, 0.001),  # a percentage, agreeing
    (1.0, 0.2, float("nan")),  # a diverged run's last evaluations
])
def test_agreeing_or_broken_evaluations_are_not_that_verdict(val: float, test: float,
                                                             loss_end: float) -> None:
    assert classify(evaluated(val, test, loss_end)).label != "wrong_result:split_gap"
