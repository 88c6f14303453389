"""A control trained on shuffled or permuted labels reports a reference, not the model: its
lines are reference lines (`output.REFERENCE_LINE`), so neither its flat curve, trained last,
nor its closing reading is judged as the model's (stop 98: fresh392
`cider_press_spectra_controls`, correct, called `wrong_result:degraded` on `seed 1 val_acc
67.5%` then `shuffled labels val_acc 33.2%`).

Cost: < 1 s (parser and judge in memory, no process).
"""

from __future__ import annotations

from test_stage_heading import parsed

from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult
from mlxprobe.watching.output import reference_line

MAIN = [0.8069, 0.7192, 0.7095, 0.6840, 0.6763, 0.6785, 0.6692, 0.6696, 0.6653, 0.6618]
SHUFFLED = [1.1055, 1.0996, 1.0986, 1.0987, 1.0987, 1.0987, 1.0986, 1.0988, 1.0986, 1.0985]
PREFIX = "INFO press | "


def run() -> RawResult:
    lines = [f"{PREFIX}main       epoch {i + 1:2d}  train_ce {v:.4f}  val_acc {66 + i % 3:5.1f}%"
             for i, v in enumerate(MAIN)]
    lines += [f"{PREFIX}shuffled   epoch {i + 1:2d}  train_ce {v:.4f}  val_acc {33 + i % 2:5.1f}%"
              for i, v in enumerate(SHUFFLED)]
    lines += [f"{PREFIX}  main model            val_acc  65.5%",
              f"{PREFIX}  seed 1                val_acc  67.5%",
              f"{PREFIX}  shuffled labels       val_acc  33.2%  train_acc  33.5%"]
    return RawResult(records=parsed(lines), exit_code=0, watched=True)


def test_lines_of_a_shuffled_or_permuted_label_control_are_reference_lines():
    for line in ("shuffled labels       val_acc  33.2%",
                 f"{PREFIX}shuffled   epoch  3  train_ce 1.09", "permuted labels: acc 0.31",
                 "[ctrl] permuted targets mse 1.02"):
        assert reference_line(line), line
    for line in ("epoch 3 shuffled=True loss 0.5", "main epoch 3 train_ce 0.66",
                 "reshuffled the data, epoch 4 loss 0.4"):
        assert not reference_line(line), line


def test_the_model_trained_first_is_judged_not_its_control():
    verdict = classify(run())
    assert verdict.kind == "pass", verdict.reason
    assert verdict.evidence["trend"]["first"] == MAIN[0]
