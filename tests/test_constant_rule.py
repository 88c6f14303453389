"""`not_learning.constant`: a loss-like metric printed as one value at every report, the
shape of a run that evaluates a model nothing updates. Checked on that shape and on the
correct shapes near it: a coarse print of a slowly falling loss, a loss that settles after
falling, an accuracy that saturates, too few reports."""

from __future__ import annotations

from mlxprobe.judging.constant import digits, frozen
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult


def run(values: list[float], name: str = "val_loss") -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": i + 1, "t": float(i),
                "metrics": {name: v}} for i, v in enumerate(values)]
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_loss_one_value_at_every_report_is_not_learning_constant():
    verdict = classify(run([0.7142] * 12))
    assert (verdict.kind, verdict.detail) == ("not_learning", "constant")
    assert verdict.evidence["reports"] == 12 and "val_loss" in verdict.reason


def test_a_coarse_print_of_a_slow_fall_is_not_judged():
    assert frozen(run([0.69] * 12)) is None
    assert frozen(run([2.3] * 12)) is None


def test_a_loss_that_falls_then_settles_is_not_constant():
    assert frozen(run([0.9, 0.5, 0.3] + [0.2125] * 9)) is None


def test_an_accuracy_at_its_ceiling_or_too_few_reports_are_not_judged():
    assert frozen(run([0.9875] * 12, "val_acc")) is None
    assert frozen(run([0.7142] * 5)) is None


def test_significant_digits_are_counted_as_printed():
    assert [digits(v) for v in (0.7142, 0.72512, 16.75, 2.0, 100.0, 1.5e-05)] == [
        4, 5, 4, 1, 1, 2]


def test_a_fixed_reference_loss_beside_a_falling_one_is_not_judged():
    records = [{"kind": "progress", "source": "output", "step": i + 1, "t": float(i),
                "metrics": {"teacher_loss": 0.7142, "student_loss": 2.0 * 0.9 ** i}}
               for i in range(12)]
    assert frozen(RawResult(records=records, exit_code=0, watched=True)) is None


def both(fixed: str, moving: str, moved: bool = True) -> RawResult:
    """`fixed` at 2.238 at every report beside `moving`, which wanders (or stays put)."""
    wander = [0.756, 0.675, 0.658, 0.668, 0.683, 0.636, 0.650, 0.635, 0.632, 0.620]
    records = [{"kind": "progress", "source": "output", "step": i + 1, "t": float(i),
                "metrics": {moving: wander[i] if moved else 0.7142, fixed: 2.238}}
               for i in range(10)]
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_fixed_number_beside_a_held_out_metric_that_moves_is_a_reference():
    """fresh161 `funicular_mrt_customvjp_allsum_restore`: `val rmse 0.756 ... (predict-mean
    rmse 2.238)`; val rmse fell only 18%, under the fall the rule asks of another loss."""
    assert frozen(both("rmse", "val_rmse")) is None
    assert frozen(both("rmse", "test_r2")) is None


def test_a_fixed_held_out_loss_beside_a_moving_training_one_is_still_judged():
    """A stale evaluated model: the training number moves, every held-out one is fixed."""
    assert frozen(both("val_loss", "train_r2")) is not None
    assert frozen(both("rmse", "val_rmse", moved=False)) is not None


def converged(schedule: bool = False) -> RawResult:
    """fresh219 `sphagnum_cover_ridge_sgd_ok`'s shape: a full-batch fit whose weights moved
    by update 1523 and stood bit-still to update 2928, at a constant rate (or a schedule)."""
    records = [{"kind": "progress", "source": "output", "step": i + 1, "t": float(i),
                "loss": 0.1061, "metrics": {"val_mse": 0.5522}} for i in range(11)]
    records.append({"kind": "rate", "optimizer": "SGD", "schedule": schedule,
                    "value": None if schedule else 0.05})
    records += [{"kind": "params", "look": look, "step": step, "updates": step, "t": t,
                 "compared": int(look > 1), "changed": changed}
                for look, step, t, changed in ((1, 1, -1.0, 0), (2, 1523, 0.5, 1),
                                               (3, 2928, 9.5, 0))]
    return RawResult(records=records, exit_code=0, watched=True)


def test_parameters_at_a_fixed_point_of_a_constant_rate_are_a_converged_fit():
    assert classify(converged()).kind == "pass"


def test_a_schedule_may_have_reached_zero_so_a_still_model_stays_constant():
    """fresh12 `a12_cosine_decay_steps_per_epoch_broken`: a cosine schedule at 0 after a
    few steps stops the weights as a converged fit does."""
    verdict = classify(converged(schedule=True))
    assert (verdict.kind, verdict.detail) == ("not_learning", "constant")


def test_a_fixed_baseline_read_as_the_loss_beside_falling_losses_is_not_a_flat_trend():
    """fresh221 `organ_voicing_vae_anneal`: `mean_spectrum_mse 1.0085` (a predict-the-mean
    baseline) read as the loss at all 24 epochs while val_elbo fell 15.34 -> 4.25 and the
    per-partial MSE 0.115 -> 0.06 -> 0.076 (a KL weight annealed up)."""
    elbo = [15.34, 9.0, 6.1, 5.3, 4.9, 4.6, 4.5, 4.4, 4.35, 4.31, 4.30, 4.28]
    mse = [0.1148, 0.060, 0.062, 0.066, 0.069, 0.071, 0.074, 0.080, 0.081, 0.080, 0.079, 0.076]
    records = [{"kind": "progress", "source": "output", "step": i, "t": float(i),
                "loss": 1.0085, "loss_name": "mean_spectrum_mse",
                "metrics": {"val_elbo": e, "val_mse_per_partial": m}}
               for i, (e, m) in enumerate(zip(elbo, mse))]
    assert classify(RawResult(records=records, exit_code=0, watched=True)).kind == "pass"
    still = [{**r, "metrics": {"val_elbo": 4.3, "val_mse_per_partial": 0.0757}}
             for r in records]
    assert classify(RawResult(records=still, exit_code=0, watched=True)).kind == "not_learning"


def test_a_loss_fixed_at_ln2_is_left_to_the_zero_logit_rule():
    """fresh224 `peal_composer_dpo`: loss and val_loss 0.6931 at every report, a DPO
    reference taken from the policy itself; zero_logit's fix names that."""
    records = [{"kind": "progress", "source": "output", "step": 20 * (i + 1), "t": float(i),
                "loss": 0.6931, "metrics": {"val_loss": 0.6931}} for i in range(12)]
    verdict = classify(RawResult(records=records, exit_code=0, watched=True))
    assert (verdict.kind, verdict.detail) == ("not_learning", "zero_logit")
    assert "reference" in verdict.hint
