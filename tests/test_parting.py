"""`not_learning.parting`: the loss falls while an accuracy falls to a fraction of its early
best (fresh37's glimmer_softcap_fused_ce: a fused loss without the forward's output
multiplier); and the shapes near it: a held-out loss that falls too, another metric that
rises (a precision/recall trade-off), a reward, a loss that does not fall. Also the
agreement measures (correlations, R²) as higher-is-better evidence for the trend rule."""

from __future__ import annotations

from mlxprobe import metric_names
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult

TRAIN = [4.4495, 2.8688, 2.6114, 2.4061, 2.2054, 1.9888, 1.7632, 1.5761, 1.3983, 1.2186,
         1.0739, 0.977]
VAL_ACC = [0.203, 0.253, 0.227, 0.197, 0.110, 0.074, 0.057, 0.049, 0.035, 0.028, 0.027, 0.027]
VAL_CE = [2.6833, 2.5745, 3.0816, 3.6033, 4.1275, 4.6811, 5.0328, 5.4367, 5.6295, 5.8665,
          5.9672, 6.1346]


def run(losses: list[float], **metrics: list[float]) -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": i + 1, "t": float(i),
                "loss": loss, "loss_name": "train_ce",
                "metrics": {name: values[i] for name, values in metrics.items()}}
               for i, loss in enumerate(losses)]
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_falling_loss_with_an_accuracy_falling_to_chance_is_parting() -> None:
    verdict = classify(run(TRAIN, val_acc=VAL_ACC, val_ce=VAL_CE))
    assert verdict.label == "not_learning:parting"
    assert verdict.evidence["metric"] == "val_acc" and "multiplier" in verdict.hint


def test_a_held_out_loss_that_falls_or_another_metric_that_rises_stands_it_down() -> None:
    falling_val = [2.6 - 0.1 * i for i in range(12)]
    recall = [0.1 + 0.07 * i for i in range(12)]
    assert classify(run(TRAIN, val_acc=VAL_ACC, val_ce=falling_val)).detail != "parting"
    assert classify(run(TRAIN, precision=VAL_ACC, recall=recall)).detail != "parting"


def test_a_reward_that_falls_or_a_loss_that_does_not_fall_is_not_parting() -> None:
    assert classify(run(TRAIN, reward=VAL_ACC)).detail != "parting"
    flat = [1.0 + 0.01 * (-1) ** i for i in range(12)]
    assert classify(run(flat, val_acc=VAL_ACC)).detail != "parting"


def test_agreement_measures_are_higher_is_better_and_a_rising_one_is_learning() -> None:
    assert all(metric_names.lower_is_better(n) is False
               for n in ("kendall_tau", "spearman", "val_corr", "c_index", "r2"))
    assert metric_names.lower_is_better("tau") is None  # often a temperature
    # fresh37 plackett_luce_races_ical: a noisy last-batch NLL at its level, tau rising
    nll = [5.2535, 5.024, 5.2238, 5.142, 5.0, 5.19, 4.9, 5.25, 5.05, 5.12]
    tau = [0.872, 0.922, 0.921, 0.924, 0.94, 0.948, 0.951, 0.955, 0.958, 0.962]
    assert classify(run(nll, winner_top1=[0.45] * 10, kendall_tau=tau)).kind == "pass"
