"""Stop 93's verdict changes, each on the shape of the run it was measured on (fresh360
`reedbank_dictation`, dewdsp/hrm-mlx 48da54b: an Adam-atan2 port whose scale b = 1/lr made
every step ~lr squared):

- `digit error rate 0.872` is a metric named `error_rate` (a loss word before `rate`), not
  a bare `rate`, and a rate is never the line's training loss (it sits beside `val loss`);
- a loss that rose early and fell back to where it began (a significant Mann-Kendall fall
  that only undid the rise) is flat;
- a share of errors that never fell corroborates a noisy level as no learning, as an
  accuracy that never rose does;
- a loss that does not fall under an optimizer the program defines names its step size;
- a held-out metric equal to its training twin at every report is the training split
  (fresh362 `sluice_ledger_polymer`); a noise floor stated after a baseline word is no
  baseline (fresh362 `tween_gull_midframe`, correct); an array truth-tested in a conditional
  expression is a truth value (fresh362 `quarry_lattice_molgraph`);
- an accuracy at 90% or more at its last two reports is no guessing (fresh363
  `cablegram_clerk_convs2s`, correct); an int iterated where the call bound it by keyword
  names the collections the call hands over (fresh363 `orchard_crate_gridcells`);
- a sublayer of a stack's top layer whose namesake below trained is no frozen part (fresh364
  `brinepool_nbeats`, correct: the last N-BEATS block's backcast);
- a printed gradient norm gone from positive to exactly 0 names a half-precision overflow
  (fresh366 `tidepool_ledger_fp16_retriever`).
"""

from __future__ import annotations

from mlxprobe import metric_names
from mlxprobe.inside import params as inside_params
from mlxprobe.judging import baseline, program
from mlxprobe.judging.verdict import classify
from mlxprobe.watching import fields
from mlxprobe.watching.facts import RawResult

LOSSES = (3.1291, 3.3445, 3.3322, 3.414, 3.4402, 3.2702, 3.3364, 3.2562, 3.084, 3.2736,
          3.2516, 3.0531, 3.1729)


def test_an_error_rate_is_named_after_its_error() -> None:
    line = fields.read("  val loss 3.2613  digit error rate 0.872")
    assert line.values == {"val_loss": 3.2613, "error_rate": 0.872}
    assert fields.read("hit rate 0.40").values == {"hit_rate": 0.4}
    assert fields.read("step 3 rate 0.5").values == {"rate": 0.5}
    assert fields.read("learning rate 1e-3 loss 2.0").values == {"learning_rate": 0.001,
                                                                 "loss": 2.0}


def test_a_rate_is_never_the_training_loss() -> None:
    assert metric_names.loss_rank("error_rate") is None
    assert metric_names.loss_rank("error") == 3


def test_a_fall_that_only_undid_an_early_rise_is_flat() -> None:
    fit = program.trend(list(LOSSES))
    assert fit is not None and fit["p_decrease"] < program.TREND_P
    assert program.flat(fit) and "undid an early rise" in program.flat_words(fit)
    fallen = program.trend([*LOSSES[:-3], 2.9, 2.85, 2.8])
    assert fallen is not None and not program.flat(fallen)


def dictation_run(errors: tuple[float, ...], optimizer: str = "AdamAtan2") -> RawResult:
    records: list[dict] = [{"kind": "start", "t": 0.0, "source": "bootstrap"},
                           {"kind": "optimizer", "name": optimizer, "t": 0.05}]
    records += [{"kind": "step", "source": "update", "step": s, "t": 0.1 + s / 30,
                 "step_s": 0.03} for s in range(1, 301)]
    records += [{"kind": "progress", "source": "output", "step": 1 if not i else 25 * i,
                 "loss": v, "t": 0.1 + (25 * i + 1) / 30} for i, v in enumerate(LOSSES)]
    records += [{"kind": "progress", "source": "output", "step": 100 * (i + 1),
                 "t": 3.5 + 3.4 * i, "metrics": {"val_loss": v, "error_rate": e}}
                for i, (v, e) in enumerate(zip((3.2613, 3.2011, 3.1449), errors))]
    return RawResult(records=records, exit_code=0, watched=True)


def test_an_error_share_that_never_fell_makes_the_level_no_learning() -> None:
    verdict = classify(dictation_run((0.872, 0.872, 0.872)))
    assert verdict.label == "not_learning:trend", verdict.reason
    assert "undid an early rise" in verdict.reason


def test_an_error_share_that_fell_leaves_the_level_unjudged() -> None:
    assert classify(dictation_run((0.872, 0.6, 0.3))).label == "pass"


def test_a_hand_written_optimizer_names_its_step_size() -> None:
    verdict = classify(dictation_run((0.872, 0.872, 0.872)))
    assert "`AdamAtan2`, is the program's own" in verdict.hint and "1 / lr" in verdict.hint
    mlx_own = classify(dictation_run((0.872, 0.872, 0.872), "AdamW"))
    assert mlx_own.label == "not_learning:trend" and "program's own" not in mlx_own.hint


# fresh362: a slice that returned the whole dataset (mlx-graphs 2353fab), a noise floor read
# as a baseline, and an array truth-tested inside a conditional expression (mlx-graphs 895e538)

ACCS = (0.737, 0.770, 0.803, 0.860, 0.940, 0.823, 0.940, 0.993, 0.997, 1.000)


def split_run(test: tuple[float, ...]) -> RawResult:
    records: list[dict] = [{"kind": "start", "t": 0.0, "source": "bootstrap"}]
    records += [{"kind": "progress", "source": "output", "step": 20 * (i + 1), "t": 0.4 * i,
                 "loss": 0.55 - 0.05 * i, "metrics": {"train_acc": a, "test_acc": t}}
                for i, (a, t) in enumerate(zip(ACCS, test))]
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_held_out_metric_equal_to_its_training_twin_is_the_training_split() -> None:
    verdict = classify(split_run(ACCS))
    assert verdict.label == "wrong_result:same_split", verdict.reason
    assert verdict.evidence["shared_reports"] == 10 and "indices" in verdict.hint


def test_held_out_metrics_that_differ_once_or_never_move_are_no_split() -> None:
    once = (*ACCS[:-1], 0.75)
    assert classify(split_run(once)).label != "wrong_result:same_split"
    flat = tuple(1.0 for _ in ACCS)
    run = split_run(flat)
    for record in run.records:
        if record.get("metrics"):
            record["metrics"]["train_acc"] = 1.0
    assert classify(run).label != "wrong_result:same_split"


def test_a_noise_floor_after_a_baseline_word_is_no_baseline() -> None:
    line = ("val blend baseline: MSE vs clean 0.00693  PSNR 21.59 dB; noise floor vs noisy "
            "target 0.00250\n")
    assert baseline.stated_baseline(line, "val_mse_noisy") is None
    assert baseline.stated_baseline("baseline: majority valid_acc 0.286; uniform CE 1.3863",
                                    "valid_ce") == 1.3863


TRACEBACK = """Traceback (most recent call last):
  File "/w/molgraph.py", line 158, in <module>
    main()
  File "/w/molgraph.py", line 39, in __inc__
    return len(self.node_features) if self.node_features else None
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
ValueError: [convert] Only length-1 arrays can be converted to Python scalars.
"""


def test_an_array_tested_in_a_conditional_expression_is_a_truth_value() -> None:
    verdict = classify(RawResult(records=[], exit_code=1, watched=True,
                                 stderr_tail=TRACEBACK))
    assert verdict.label == "crash:ValueError"
    assert verdict.hint.startswith("an array of more than one element was used as a truth "
                                   "value") and "is not None" in verdict.hint


# fresh363: a short run whose accuracy reached 100% beside a label-smoothed loss
# (`cablegram_clerk_convs2s`, correct), and an int iterated where the call bound it by
# keyword (`orchard_crate_gridcells`, koogle/mlx-playground 40b680d)

def smoothed_run(ems: tuple[float, ...]) -> RawResult:
    losses = (6.353, 5.439, 4.208, 3.158, 2.233, 1.794, 1.569, 1.353, 1.205, 1.165, 1.144)
    records: list[dict] = [{"kind": "start", "t": 0.0, "source": "bootstrap"}]
    records += [{"kind": "progress", "source": "output", "step": 31 * i, "loss": v,
                 "t": 1.0 + i} for i, v in enumerate(losses)]
    records += [{"kind": "progress", "source": "output", "step": 62 * (i + 1), "t": 2.5 + 2 * i,
                 "metrics": {"greedy_em": e}} for i, e in enumerate(ems)]
    return RawResult(records=records, exit_code=0, watched=True)


def test_an_accuracy_that_answers_nine_in_ten_twice_is_not_at_chance() -> None:
    assert classify(smoothed_run((0.0, 7.0, 33.5, 100.0, 100.0))).label == "pass"
    assert classify(smoothed_run((0.0, 7.0, 33.5, 30.0, 35.0))).label == "not_learning:chance"


LOOP_TRACEBACK = """Traceback (most recent call last):
  File "/w/train.py", line 202, in <module>
    main()
  File "/w/train.py", line 191, in main
    losses, took = train_epoch(model, train_loader, optimizer, batch_size=batch_size)
                   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/w/train.py", line 160, in train_epoch
    for batch_idx, batch in batch_size:
TypeError: 'int' object is not iterable
"""


def test_a_number_bound_by_keyword_and_iterated_names_the_collection() -> None:
    hint = classify(RawResult(records=[], exit_code=1, watched=True,
                              stderr_tail=LOOP_TRACEBACK)).hint
    assert "by keyword" in hint and "`enumerate(train_loader)`" in hint
    assert "enumerate(model)" not in hint
    positional = LOOP_TRACEBACK.replace("batch_size=batch_size", "batch_size")
    hint = classify(RawResult(records=[], exit_code=1, watched=True,
                              stderr_tail=positional)).hint
    assert "positional call" in hint and "enumerate(train_loader)" not in hint


# fresh364: the last N-BEATS block's backcast, read by no later block (`brinepool_nbeats`,
# correct), against a sublayer frozen in a lower layer too

def test_only_a_top_layers_sublayer_whose_namesake_below_trained_is_top_only() -> None:
    groups = {f"blocks.{i}.{part}": [True] for i in range(3) for part in ("fc.0", "fore")}
    groups |= {"blocks.0.back": [True], "blocks.1.back": [True], "blocks.2.back": [False]}
    assert inside_params.top_only(groups, ["blocks.2.back"]) == ["blocks.2.back"]
    groups["blocks.1.back"] = [False]  # not the top layer: never top_only
    assert inside_params.top_only(groups, ["blocks.1.back", "blocks.2.back"]) == [
        "blocks.2.back"]
    groups["blocks.0.back"] = [False]  # no namesake below trained
    assert inside_params.top_only(groups, ["blocks.0.back", "blocks.1.back",
                                           "blocks.2.back"]) == []
    assert inside_params.top_only({"head": [False], "blocks.0.fc": [True]}, ["head"]) == []


def backcast_run(unchanged: list[str], top: list[str]) -> RawResult:
    records: list[dict] = [{"kind": "start", "t": 0.0, "source": "bootstrap"}]
    records += [{"kind": "step", "source": "update", "step": s, "t": 0.1 + s / 100,
                 "step_s": 0.01} for s in range(1, 361)]
    records += [{"kind": "params", "step": s, "updates": s - 1, "look": i + 1, "leaves": 30,
                 "compared": 15, "changed": 15 - len(unchanged), "unchanged": unchanged,
                 "unchanged_count": len(unchanged), "nonfinite": [], "moved": 14,
                 **({"top_only": top} if top else {}), "t": 0.2 + s / 100}
                for i, s in enumerate(range(23, 345, 29))]
    records += [{"kind": "progress", "source": "output", "step": s, "t": 0.3 + s / 100,
                 "loss": 1.0 / (1 + s / 30)} for s in range(1, 361, 30)]
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_top_sublayer_read_by_no_layer_is_no_frozen_part() -> None:
    assert classify(backcast_run(["blocks.2.back"], ["blocks.2.back"])).label == "pass"
    both = ["blocks.1.back", "blocks.2.back"]
    assert classify(backcast_run(both, [])).label == "no_update:part"


# fresh366: an fp16 normalisation that overflowed, every gradient exactly 0 from step 10
# (`tidepool_ledger_fp16_retriever`, mlx-embed-finetune 51756d7)

def overflow_run(norms: list[float]) -> RawResult:
    records: list[dict] = [{"kind": "start", "t": 0.0, "source": "bootstrap"}]
    records += [{"kind": "progress", "source": "output", "step": 1 + 10 * i, "t": 0.2 * i,
                 "loss": 3.1444 if not i else 3.4657, "metrics": {"grad_norm": g}}
                for i, g in enumerate(norms)]
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_gradient_norm_gone_to_zero_names_a_half_precision_overflow() -> None:
    verdict = classify(overflow_run([0.9017] + [0.0] * 12))
    assert verdict.kind in ("not_learning", "no_update"), verdict.reason
    assert "exactly 0 at each of its last 12" in verdict.hint and "float32" in verdict.hint


def test_a_gradient_norm_zero_only_at_the_end_or_never_positive_says_nothing() -> None:
    from mlxprobe.judging import dead_gradient
    assert dead_gradient.note(overflow_run([0.9, 0.5, 0.4, 0.0, 0.0])) == ""
    assert dead_gradient.note(overflow_run([0.0] * 6)) == ""
