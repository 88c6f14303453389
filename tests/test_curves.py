"""The learning curve rule of `compare` on synthetic curves: identical sides and sides drawn
from the same noise never fail; a shifted or slower curve does with 3 runs a side, and is
only `worse?` with one run a side."""

from __future__ import annotations

import math
import random

from mlxprobe.gating import comparison, curves

CURVE = comparison.DEFAULT_THRESHOLDS["curve"]


def run(losses: list[float], loss_at: bool = False) -> dict:
    steps = list(range(1, len(losses) + 1))
    series = {"step": steps, "loss": losses}
    if loss_at:  # a watched program: the loss from another source than the steps
        series = {"step": [1], "loss": [None], "loss_at": {"step": steps, "loss": losses}}
    return {"scenario": "watch", "variant": "python train.py", "verdict": "pass",
            "matched": True, "expected": None, "metrics": {}, "series": series}


def decay(lr: float = 0.05, steps: int = 60, noise: float = 0.0, seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    return [2.0 * math.exp(-lr * s) + 0.1 + rng.gauss(0, noise) for s in range(steps)]


def judged(base: list[list[float]], head: list[list[float]], **kw: bool) -> curves.Verdict:
    found = curves.judge([run(c, **kw) for c in base], [run(c, **kw) for c in head],
                         CURVE.ratio, CURVE.floor)
    assert found is not None
    return found


def test_identical_deterministic_sides_are_the_same() -> None:
    same = decay()
    assert judged([same] * 3, [same] * 3).state == "same"
    assert judged([same], [same]).state == "same"


def test_sides_drawn_from_the_same_noise_never_fail() -> None:
    for trial in range(200):
        base = [decay(noise=0.02, seed=1000 * trial + i) for i in range(3)]
        head = [decay(noise=0.02, seed=1000 * trial + 10 + i) for i in range(3)]
        found = judged(base, head)
        assert found.state == "same", (trial, found.detail)


def test_a_slower_learning_rate_is_worse_with_three_runs_a_side() -> None:
    base = [decay(noise=0.005, seed=i) for i in range(3)]
    head = [decay(lr=0.035, noise=0.005, seed=10 + i) for i in range(3)]
    found = judged(base, head)
    assert found.state == "worse" and "(above)" in found.detail


def test_faster_learning_is_a_different_curve_too() -> None:
    found = judged([decay()] * 3, [decay(lr=0.08)] * 3)
    assert found.state == "worse" and "(below)" in found.detail


def test_one_run_a_side_is_only_worse_unconfirmed() -> None:
    found = judged([decay()], [decay(lr=0.035)])
    assert found.state == "worse?"


def test_a_different_final_loss_alone_is_worse() -> None:
    base = decay()
    head = base[:-6] + [v + 0.05 for v in base[-6:]]  # only the last 10% moved
    found = judged([base] * 2, [head] * 2)
    assert found.state == "worse" and len(found.band.outside) < 0.25 * len(base)


def test_the_loss_of_another_source_is_the_curve_and_steps_must_match() -> None:
    found = judged([decay()] * 2, [decay(lr=0.035)] * 2, loss_at=True)
    assert found.state == "worse"
    few = curves.judge([run([1.0, 0.9])], [run([1.0, 0.9])], CURVE.ratio, CURVE.floor)
    assert few is None
    no_loss = {"series": {"step": [1, 2, 3], "loss": [None, None, None]}}
    assert curves.judge([no_loss], [run(decay())], CURVE.ratio, CURVE.floor) is None


def test_compare_reports_the_curve_as_a_metric_and_fails_on_it() -> None:
    def report(curves_: list[list[float]], mlx: str) -> dict:
        runs = [{**run(c), "repeat": i, "environment": {"mlx_version": mlx}}
                for i, c in enumerate(curves_)]
        return {"schema": 1, "mlx_version": mlx, "runs": runs, "fingerprint": {}}

    base = report([decay()] * 3, "0.31.2")
    result = comparison.compare(base, report([decay(lr=0.035)] * 3, "0.32.4"))
    assert result.failed
    [change] = result.changes
    [curve] = [m for m in change.metrics if m.name == "curve"]
    assert curve.state == "worse" and curve.runs == (3, 3)
    assert not comparison.compare(base, report([decay()] * 3, "0.32.4")).failed
