"""`not_learning.below_mean`: a loss that falls far while an R² stays below 0 (fresh36's
property_head_double_norm: targets z-scored twice); and the shapes near it that learn or are
not judged: an R² that rises above 0, a negative R² early on only, a loss that does not fall
by half, too few reports, a name that is not an R²."""

from __future__ import annotations

from mlxprobe import metric_names
from mlxprobe.judging.below_mean import MIN_REPORTS, below_zero
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult

MSE = [0.239, 0.0435, 0.02, 0.0096, 0.0076, 0.0069, 0.0065, 0.006, 0.006, 0.0054, 0.0056,
       0.0053]
R2 = [-0.139, -0.104, -0.112, -0.077, -0.088, -0.113, -0.075, -0.049, -0.068, -0.095, -0.091,
      -0.095]


def run(losses: list[float], r2: list[float], name: str = "r2_logp") -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": i + 1, "t": float(i),
                "loss": loss, "loss_name": "train_mse", "metrics": {name: value}}
               for i, (loss, value) in enumerate(zip(losses, r2))]
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_loss_that_falls_far_while_r2_stays_below_0_is_below_mean() -> None:
    verdict = classify(run(MSE, R2))
    assert verdict.label == "not_learning:below_mean"
    assert verdict.evidence["r2"] == "r2_logp" and verdict.evidence["r2_max_last_half"] < 0
    assert "twice" in verdict.hint and "normalised" in verdict.hint


def test_an_r2_that_rises_above_0_or_is_negative_only_early_is_learning() -> None:
    rising = [-0.5, -0.2, -0.05, 0.1, 0.3, 0.5, 0.6, 0.7, 0.75, 0.8, 0.82, 0.85]
    early = [-0.4, -0.3, -0.2, -0.1, -0.05, -0.01, 0.01, 0.02, 0.05, 0.06, 0.08, 0.09]
    for values in (rising, early):
        assert below_zero(run(MSE, values)) is None
        assert classify(run(MSE, values)).kind == "pass"


def test_a_loss_that_falls_less_than_half_is_not_judged_by_r2() -> None:
    slow = [1.0 - 0.02 * i for i in range(12)]  # a significant fall of 22%
    assert classify(run(slow, R2)).detail != "below_mean"


def test_too_few_reports_and_other_names_are_not_judged() -> None:
    assert below_zero(run(MSE[:MIN_REPORTS - 1], R2[:MIN_REPORTS - 1])) is None
    assert below_zero(run(MSE, R2, "grad_norm2")) is None
    assert all(metric_names.explained_variance(n) for n in ("r2", "val_r2", "r_squared",
                                                            "r2_score", "r2_tpsa"))
    assert not any(metric_names.explained_variance(n) for n in ("lr2", "err2", "layer2"))
