"""Stop 85's changes to what a run's output is read as, on the texts of the runs that showed
each:
- a CSV row with empty cells (`0,0.000,,,,1.4035,16.53,...`: an evaluation before training,
  whose training columns have no value yet) is a row of its header's columns, each number
  under its own name (fresh310 `marionette_rig_confpen_csv`, correct: the row was dropped,
  so the accuracy's rise 16.5% -> 83% from it was not seen and a flat, penalty-raised
  cross-entropy read as `not_learning:trend`);
- a contradicted verdict's hint names a generation path that encodes its inputs another way
  than the training batches (fresh304 `calliope_bandstand_sft`: its fix was not named);
- an optimizer that stops after a first stage, followed by a stage whose counter starts again
  and whose reports carry measures of their own, is no loop that stopped stepping (fresh313
  `apiary_swarm_hmc`, correct: a sampler after a MAP fit, `no_update:updates_ended`).

Cost: < 1 s (texts in memory, no process).
"""

from __future__ import annotations

from test_stop84_rules import parsed

from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult
from mlxprobe.watching.output import ProgressParser

CONFPEN = """epoch,beta,objective,train_ce,train_entropy,val_ce,val_acc_pct,val_ece_pct,majority_pct
0,0.000,,,,1.4035,16.53,13.13,43.07
1,0.188,0.5324,0.6772,0.7722,0.5461,83.27,9.53,43.07
2,0.375,0.3153,0.6393,0.8641,0.6066,82.27,15.97,43.07
# checkpoint after epoch 6 written to rig_ckpt_94pwmwo0
# resumed, head weight max diff vs saved 0.0e+00
7,0.750,-0.0913,0.7367,1.1040,0.7206,83.67,27.85,43.07
8,0.750,-0.0947,0.7357,1.1072,0.6990,84.07,26.54,43.07
9,0.750,-0.0957,0.7312,1.1026,0.7202,83.60,27.80,43.07
10,0.750,-0.0943,0.7363,1.1075,0.6991,83.73,26.14,43.07
11,0.750,-0.0962,0.7320,1.1042,0.6956,83.53,25.65,43.07
12,0.750,-0.0978,0.7298,1.1035,0.7085,83.13,26.22,43.07
13,0.750,-0.0976,0.7294,1.1027,0.7180,84.13,28.09,43.07
14,0.750,-0.0981,0.7314,1.1061,0.7002,83.80,26.48,43.07
# final val_acc_pct=83.80 (majority 43.07) val_ce=0.7002 val_ece_pct=26.48"""


def test_a_csv_row_with_empty_cells_keeps_each_number_under_its_column() -> None:
    first = ProgressParser()
    first.parse(CONFPEN.splitlines()[0])
    row = first.parse(CONFPEN.splitlines()[1])
    assert row is not None
    assert row.get("metrics", {}).get("val_acc_pct") == 16.53
    assert "train_ce" not in row.get("metrics", {})


def test_an_accuracy_that_rose_from_a_row_before_training_is_learning() -> None:
    assert classify(parsed(CONFPEN)).label == "pass"


def test_an_empty_csv_cell_is_a_value_not_there_and_a_row_of_other_length_no_row() -> None:
    parser = ProgressParser()
    parser.parse("epoch,loss,acc")
    row = parser.parse("5,,0.9")
    assert row is not None and row["step"] == 5 and row["metrics"] == {"acc": 0.9}
    assert "loss" not in row
    assert parser.parse("6,,0.9,,") is None  # five cells under three columns


def test_a_contradicted_verdict_names_inputs_encoded_another_way_for_generation() -> None:
    """fresh304 `calliope_bandstand_sft`: conditioning tokens trained one embedding row below
    the row generation feeds; val_ce 0.1046 -> 0.0005 beside gen_frame_acc 0.0%."""
    from test_stop70_rules import VAL, generated

    v = classify(generated(2.0, VAL))  # 0% is `zero_score`'s (a training loss at its floor)
    assert v.label == "wrong_result:contradicted"
    assert "offset by one" in v.hint and "conditioning" in v.hint


def hmc(measures_after: tuple[str, ...]) -> RawResult:
    """A MAP fit by an optimizer (300 counted updates, `map it N  U=...`), then a sampler
    whose counter starts again (`hmc it 50`) with no optimizer update (fresh313
    `apiary_swarm_hmc`, correct)."""
    records = [{"kind": "step", "source": "update", "step": i + 1, "t": 0.001 * i}
               for i in range(300)]
    records += [{"kind": "progress", "source": "output", "step": s, "t": 0.0005 * s,
                 "metrics": {"u": 360.0 - s / 100}} for s in (1, 25, 50, 100, 200)]
    for k, s in enumerate(range(50, 750, 50)):
        restart = {"restart": True} if k == 0 else {}
        metrics = {"u": 358.0 + (k % 3), **{m: 0.5 for m in measures_after}}
        records.append({"kind": "progress", "source": "output", "step": 300 + s,
                        "t": 0.4 + 0.14 * k, "metrics": metrics, **restart})
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_new_stage_with_its_own_measures_after_the_last_update_is_not_updates_ended() -> None:
    assert classify(hmc(("accept", "eps", "dtheta"))).label != "no_update:updates_ended"


def test_a_restarted_counter_printing_the_same_measures_still_is() -> None:
    assert classify(hmc(())).label == "no_update:updates_ended"
