"""The verdict's rules for a watched program (`judging.program`): how it ended, and learning
judged on the whole run's trend with its noise."""

from __future__ import annotations

import random

from mlxprobe.judging.program import raised, trend
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult


def progress(losses: list, source: str = "output", **metrics) -> list[dict]:
    return [{"kind": "progress", "source": source, "step": i + 1, "loss": v, "t": float(i),
             **({"metrics": {k: v[i] for k, v in metrics.items()}} if metrics else {})}
            for i, v in enumerate(losses)]


def watched(records: list[dict], exit_code: int = 0, stderr: str = "") -> RawResult:
    return RawResult(records=records, exit_code=exit_code, stderr_tail=stderr, watched=True)


def noisy(start: float, fall: float, n: int, noise: float, seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    return [start * (1 - fall * i / (n - 1)) + rng.gauss(0, noise) for i in range(n)]


def test_a_slowly_falling_noisy_loss_passes():
    # measured: mlx-lm LoRA at 1e-3 fell 2% over its run, with batch-to-batch noise
    for seed in range(20):
        v = classify(watched(progress(noisy(6.17, 0.02, 50, 0.02, seed))))
        assert v.kind == "pass", (seed, v.reason)


def test_a_flat_noisy_loss_is_not_learning():
    flagged = sum(classify(watched(progress(noisy(6.0, 0.0, 50, 0.02, s)))).kind
                  == "not_learning" for s in range(20))
    assert flagged >= 17  # a flat loss is flagged unless noise shows a chance fall


def test_a_flat_loss_too_noisy_to_rule_out_a_fall_is_not_judged():
    # fresh28's compiled_grad_interior_eval_ok: a single-batch NLL, +-15% noise, 12 reports,
    # converged before its first report: its noise allows a fall of up to 32%
    loud = [0.7421, 0.6784, 0.7299, 0.8645, 0.8843, 0.8068, 0.8624, 0.7397, 0.7441, 0.9230,
            0.6999, 0.7141]
    verdict = classify(watched(progress(loud)))
    assert verdict.kind == "pass" and "too noisy to call flat" in verdict.reason
    assert trend(loud)["change_low"] < -0.3
    quiet = [0.8 + (v - 0.79) / 20 for v in loud]  # the same shape at 1/20 of the noise
    assert classify(watched(progress(quiet))).label == "not_learning:trend"


def test_a_loss_that_is_a_noisy_level_from_its_first_report_is_not_judged():
    # fresh35's precision_logdet_detached_ok: a Gaussian NLL at its noise floor by its first
    # report (step 25 of 750), +-3% batch noise: as flat as a run that never learned
    level = [10.2222, 10.4359, 10.2914, 10.0292, 10.4183, 10.1797, 10.6978, 10.3195, 10.5401,
             10.3968, 10.3017]
    verdict = classify(watched(progress(level)))
    assert verdict.kind == "pass" and "a level with noise" in verdict.reason
    fit = trend(level)
    assert fit["change_low"] < 0 < fit["change_high"] < 0.15 and fit["noise"] >= 0.005
    rising = [v * (1 + 0.03 * i) for i, v in enumerate(level)]  # the same noise, rising
    assert classify(watched(progress(rising))).kind == "not_learning"
    # a second measure that agrees: an accuracy that stays where it was
    flat_accuracy = [0.41, 0.40, 0.42, 0.41, 0.40, 0.41, 0.42, 0.40, 0.41, 0.41, 0.40]
    assert classify(watched(progress(level, accuracy=flat_accuracy))).label == \
        "not_learning:trend"


def test_a_loss_that_fell_then_sat_at_its_floor_passes():
    v = classify(watched(progress([5.0, 0.002] + [0.0] * 30)))
    assert v.kind == "pass"


def test_too_few_points_are_not_judged():
    assert classify(watched(progress([2.0] * 9))).kind == "pass"


def test_a_zero_learning_rate_from_the_trainer_is_no_update():
    records = progress([6.1, 6.2, 6.1], source="callback", learning_rate=[0.0, 0.0, 0.0])
    v = classify(watched(records))
    assert (v.kind, v.detail) == ("no_update", "learning_rate")


def test_exit_zero_without_end_record_passes_and_nonzero_is_a_crash():
    assert classify(watched(progress([3.0, 2.0]))).kind == "pass"
    v = classify(watched([], exit_code=4))
    assert (v.kind, v.detail) == ("crash", "exit_4")


def test_the_traceback_at_the_end_of_stderr_names_the_crash():
    stderr = ("Traceback (most recent call last):\n  File \"t.py\", line 3, in <module>\n"
              "mlx.core.SomethingError: boom\nValueError: [conv] channels do not match\n")
    assert raised(stderr) == ("ValueError", "[conv] channels do not match")
    v = classify(watched([], exit_code=1, stderr=stderr))
    assert (v.kind, v.detail) == ("crash", "ValueError")
    assert raised("ValueError: printed, not raised\n") is None


def test_trend_evidence_carries_its_thresholds():
    fit = trend(noisy(2.0, 0.0, 30, 0.01))
    assert {"p_decrease", "fitted_change", "window_drop", "p_threshold", "min_fall",
            "min_window_drop", "points"} <= set(fit)


def test_a_message_that_goes_on_over_lines_is_read_whole():
    """MLX's compile error says what to do on its second line: the known-error table needs
    it to tell uncaptured state from an eval inside compile."""
    stderr = ("Traceback (most recent call last):\n  File \"t.py\", line 9, in <module>\n"
              "RuntimeError: [eval] Attempting to eval an array without a primitive.\n"
              "If you are compiling a function, make sure all the inputs and outputs are "
              "captured:\nhttps://ml-explore.github.io/mlx/build/html/usage/compile.html\n")
    kind, message = raised(stderr)
    assert kind == "RuntimeError" and "inputs and outputs are captured" in message
    v = classify(watched([], exit_code=1, stderr=stderr))
    assert v.evidence["known_error"] == "compile_uncaptured_state"
