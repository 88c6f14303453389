"""Stop 58's changes to the verdict rules, on the numbers of the run that showed each:
`diverged:spike` stands down on a peak printed under another name than most of its curve's
reports (fresh124 `maple_sap_sgdr_zero_warm`, a correct loop whose end-of-cycle line gave the
loss its validation RMSE, 20x its training Huber).

Cost: < 0.5 s (no MLX, no process).
"""

from __future__ import annotations

import pytest

from mlxprobe.judging import hints
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult
from mlxprobe.watching.output import ProgressParser

# fresh124 `maple_sap_sgdr_zero_warm` as read: three warm-restart cycles of a training Huber,
# each followed by a line `-> end of cycle k: val MAE 0.135 L/tap/day  RMSE 0.173  (linear
# rule 0.593, ...)` whose RMSE the reader takes as the line's loss
CYCLES = [[0.0216, 0.0138, 0.0117], [0.0126, 0.0101, 0.009, 0.0085, 0.0082, 0.008],
          [0.0089, 0.0085, 0.0082, 0.0079, 0.0077, 0.0076, 0.0073, 0.0072, 0.0071, 0.0069,
           0.0069, 0.0068]]
RMSE = [0.22, 0.183, 0.173]


def run(end_name: str) -> RawResult:
    records = []
    for k, (huber, rmse) in enumerate(zip(CYCLES, RMSE)):
        named = [(v, "huber") for v in huber] + [(rmse, end_name)]
        records += [{"kind": "progress", "source": "output", "step": k + 1, "loss": v,
                     "loss_name": name, "metrics": {"cycle": float(k + 1)}} for v, name in named]
    for i, record in enumerate(records):
        record["t"] = float(i)
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_peak_printed_under_another_name_than_the_curve_is_no_spike() -> None:
    assert classify(run("rmse")).kind == "pass"


def test_a_peak_under_the_curves_own_name_is_still_a_spike() -> None:
    assert classify(run("huber")).label == "diverged:spike"


# fresh127 `dishwasher_cycle_vae_klanneal` as read: a VAE whose KL weight beta ramps 0 -> 1
# over its first eight reports and then holds; its total rises with the weight while kl falls
BETA = [0.0, 0.0, 0.1, 0.25, 0.4, 0.55, 0.7, 0.85, 1.0, 1.0, 1.0, 1.0, 1.0]
TOTAL = [3.648, 0.895, 1.368, 1.92, 2.367, 2.751, 3.103, 3.339, 3.613, 3.603, 3.615, 3.58, 3.6]
KL = [7.65, 23.442, 6.261, 3.929, 3.009, 2.541, 2.202, 1.916, 1.688, 1.694, 1.678, 1.656, 1.666]


def annealed(kl: list[float], scale: float = 1.0) -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": 3 * i, "t": float(i),
                "loss": total * scale, "metrics": {"beta": beta, "kl": value}}
               for i, (total, beta, value) in enumerate(zip(TOTAL, BETA, kl))]
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_total_that_rose_with_its_ramped_weight_while_the_term_gave_way_is_no_blow_up() -> None:
    assert classify(annealed(KL)).kind == "pass"


def test_a_rise_with_a_ramped_weight_whose_term_never_gave_way_is_still_a_blow_up() -> None:
    # fresh23 `vae_logvar_unclipped_broken`: kl stuck at 3.33e26 through its weight's ramp
    stuck = [3.41e26] + [3.33e26] * (len(KL) - 1)
    assert classify(annealed(stuck, scale=1e25)).label == "diverged:exploding"


def parsed(lines: list[str]) -> list[dict]:
    parser = ProgressParser()
    return [r for r in map(parser.parse, lines) if r is not None]


def test_a_header_with_a_unit_raised_to_a_power_names_its_columns() -> None:
    # fresh128 `sailloft_creep_clipvjp_lion`: not read, each row's learning rate was the loss
    rows = parsed([" step        lr  mse(%^2)    huber val rmse %  naive %",
                   "    1  1.50e-03   5.21954  0.17564     2.1557   1.3017",
                   "   45  1.36e-03   0.61089  0.06010     0.7350   1.3017"])
    assert [(r["loss"], r["loss_name"]) for r in rows] == [(5.21954, "mse"), (0.61089, "mse")]
    assert rows[1]["metrics"]["learning_rate"] == 0.00136
    # fresh128 `comet_coma_foldwise_lion`: between bars, `mag^2` is the columns' unit
    rows = parsed([" ep |   lr     | train mag^2 | val mag^2 | ref mag^2 | best",
                   "  5 | 1.99e-03 |      1.4217 |    1.0761 |    0.3954 | 1.0761@5"])
    assert "loss" not in rows[0] and rows[0]["metrics"] == {
        "learning_rate": 0.00199, "train": 1.4217, "val": 1.0761, "ref": 0.3954}


@pytest.mark.parametrize("split", ["val", "held_out"])
def test_a_splits_size_beside_its_name_is_no_stale_evaluation(split: str) -> None:
    # fresh129 `firefly_flash_species_foldrestore`: `fold 1/5  train=720  val=180` per fold;
    # fresh190 `hammock_sag_folds_warm0_log`: `fold 2/5 start: train 720, held-out 180`
    def run(val: float) -> RawResult:
        train = [1.55, 0.49, 0.10, 0.06, 0.05, 0.04, 0.03, 0.03, 0.03, 0.03]
        records = [{"kind": "progress", "source": "output", "step": i + 1, "t": float(i),
                    "loss": loss, "metrics": {split: val}} for i, loss in enumerate(train)]
        return RawResult(records=records, exit_code=0, watched=True)

    assert classify(run(180.0)).kind == "pass"
    assert classify(run(0.4213)).label == "wrong_result:stale_evaluation"


TRACE = '''Traceback (most recent call last):
  File "/tmp/train.py", line 66, in chat_loss_fn
    {line}
ValueError: [broadcast_shapes] Shapes (16,24) and ({count},1) cannot be broadcast.
'''
LINE = "assistant_mask = range_matrix <= mx.array(index).reshape(-1, 1)"


def test_a_column_of_one_value_per_row_that_holds_more_values_than_rows_says_so() -> None:
    # fresh129 `parrot_turns_completion_mask` (mlx-vlm PR 777): every marker of the batch
    message = "[broadcast_shapes] Shapes (16,24) and (29,1) cannot be broadcast."
    hint = hints.for_error("ValueError", message, TRACE.format(line=LINE, count=29))
    assert "29 values for 16 rows" in hint and "one per row" in hint and "np.where" in hint
    # one value per row, or a line that makes no column: the table's hint as before
    for count, line in ((16, LINE), (29, "mask = a <= b")):
        text = f"[broadcast_shapes] Shapes (16,24) and ({count},1) cannot be broadcast."
        assert "per row" not in hints.for_error("ValueError", text, TRACE.format(
            line=line, count=count))


def test_a_constant_reference_beside_a_loss_that_fell_at_once_is_no_frozen_model() -> None:
    # fresh129 `zeppelin_gascell_vae_cyclic`: the mean trace's own error at every report,
    # beside a validation reconstruction that fell 5.80 -> 3.36 by its second report
    val = [5.7951, 3.355, 3.2321, 3.3036, 2.9499, 3.1377, 3.0954, 3.0207, 2.9716, 3.0266,
           3.0587, 3.041, 2.951, 2.9807, 2.9762, 3.0097]
    train = [8.457, 7.2106, 6.9762, 6.8158, 5.2717, 7.0409, 5.8331, 6.5151, 5.4682, 6.5073,
             6.4152, 6.8369, 4.7979, 5.8911, 6.8202, 6.8819]

    def run(others: list[float]) -> RawResult:
        records = [{"kind": "progress", "source": "output", "step": 32 * (i + 1), "t": float(i),
                    "loss": loss, "metrics": {"val_recon": other, "mean_trace_recon": 25.7043}}
                   for i, (loss, other) in enumerate(zip(train, others))]
        return RawResult(records=records, exit_code=0, watched=True)

    assert classify(run(val)).kind == "pass"
    # nothing else fell (fresh6 `manual_sgd_flat_update_nonstrict`'s shape): still frozen
    assert classify(run([3.0 + 0.01 * (i % 3) for i in range(16)])).label == \
        "not_learning:constant"


def test_a_training_loss_at_its_floor_beside_a_held_out_accuracy_at_zero_is_judged() -> None:
    # fresh132 `okapi_caption_sft` (mlx-vlm PR 826): every sequence cut to its prompt, so the
    # caption the accuracy scores was never trained on; 8 epochs, too few for the trend test.
    # `not_learning:opposed` at stop 58; from stop 60 `wrong_result.zero_score` (an accuracy at
    # 0 at every report beside a loss at its floor) judges it first: the case expects either
    train = [0.8571, 0.0005, 0.0001, 0.0001, 0.0001, 0.0001, 0.0, 0.0]

    def run(accuracy: float) -> RawResult:
        records = [{"kind": "progress", "source": "output", "step": 16 * (i + 1), "t": float(i),
                    "loss": loss, "metrics": {"val_caption_acc": accuracy}}
                   for i, loss in enumerate(train)]
        return RawResult(records=records, exit_code=0, watched=True)

    verdict = classify(run(0.0))
    assert verdict.label == "wrong_result:zero_score" and "truncated" in verdict.hint
    assert classify(run(0.999)).kind == "pass"  # its fixed twin's accuracy
