"""`not_learning.worse_than_baseline`: a held-out error that ends far worse than the trivial
predictor the program states (fresh186 `kiln_glaze_adadelta`: val_mse 1.01e6 against a
mean-predictor baseline of 423.4), against the correct shapes near it."""

from __future__ import annotations

import pytest

from mlxprobe.judging.baseline import stated_baseline
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult

LINE = "baseline (predict train mean) val mse: 423.4038\n"


def run(val: list[float], text: str = LINE) -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": 200 * (i + 1), "t": float(i),
                "loss": v * 1.01, "loss_name": "train_mse", "metrics": {"val_mse": v}}
               for i, v in enumerate(val)]
    return RawResult(records=records, exit_code=0, watched=True, stdout_tail=text)


def test_a_held_out_error_far_above_the_stated_baseline_is_not_learning() -> None:
    v = classify(run([1550448.75, 1451727.4, 1335639.3, 1186722.9, 1102018.8, 1011843.8]))
    assert v.label == "not_learning:worse_than_baseline"
    assert v.evidence["baseline"] == 423.4038 and "state" in v.hint


@pytest.mark.parametrize("val", [
    [31940.0, 2221.0, 740.0, 328.6],  # the fixed twin, below the baseline
    [900.0, 700.0, 600.0, 620.0, 610.0],  # 1.44x: within the margin
    [900.0, 700.0, 200.0, 700.0],  # only the last report above
])
def test_an_error_below_or_near_the_baseline_passes(val: list[float]) -> None:
    assert classify(run(val)).label != "not_learning:worse_than_baseline"


@pytest.mark.parametrize("text, name, expected", [
    (LINE, "val_mse", 423.4038),
    ("final val MAE 3.156 min (predict-the-median baseline 13.478 min)", "val_mae", 13.478),
    ("done: val RMSE 1.51 cents vs mean-baseline 9.15 cents", "val_rmse", 9.15),
    ("naive (train-mean) val MAE = 0.442 kg", "val_mae", 0.442),
    (LINE, "val_mae", None),  # another measure's baseline
    ("val mse 0.3 at epoch 4", "val_mse", None),  # no baseline word
    # a line stating two measures' baselines gives each its own (fresh288
    # `quiltframe_selu_resume`: valid_ce 0.9324 was read against the accuracy's 0.286)
    ("baseline: always-majority valid_acc 0.286; uniform guess CE 1.3863", "valid_ce", 1.3863),
    ("baseline mse 0.5 | model mse 0.3", "val_mse", 0.5),
])
def test_a_baseline_is_read_for_the_measure_its_line_names(text: str, name: str,
                                                           expected) -> None:
    assert stated_baseline(text, name) == expected
