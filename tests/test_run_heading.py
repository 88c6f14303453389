"""A line that announces one of the program's repeated runs (`seed=2`, `=== fold 3 ===`) is a
heading with the counter's value (`output.run_heading`), and where the program's step counter
then goes back `judging/phases.py` starts a new run however its loss starts (stop 98: fresh391
`thawline_ablation_groups`, correct: an ablation of eight runs announced by arm and seed, the
last two an untrained reference at lr 0, read as one curve from the fifth run on:
`not_learning:trend`).

Cost: < 1 s (parser and judge in memory, no process).
"""

from __future__ import annotations

from test_stage_heading import parsed

from mlxprobe.judging import phases
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult

# thawline_ablation_groups' huber losses, five reports a run: two arms that do not learn by
# design (inputs that carry no signal, then lr 0), two seeds each
RUNS = [("lake_only", 1, [0.5034, 0.3710, 0.3343, 0.3452, 0.4692]),
        ("lake_only", 2, [0.4710, 0.3820, 0.4006, 0.3396, 0.4465]),
        ("untrained_reference", 1, [0.5129, 0.3819, 0.4296, 0.3718, 0.4982]),
        ("untrained_reference", 2, [0.4598, 0.4262, 0.4076, 0.4451, 0.5044])]


def ablation(announce: bool) -> RawResult:
    lines = []
    for arm, seed, losses in RUNS:
        lines += [f"::group::arm={arm} seed={seed} inputs=4 lr=0.002"] if announce else []
        lines += [f"  step {1 + 175 * i:4d}  huber {v:.4f}  valid_mae_days   8.0{i}"
                  for i, v in enumerate(losses)]
    return RawResult(records=parsed(lines), exit_code=0, watched=True)


def test_a_line_that_announces_a_run_is_a_heading_with_its_counter():
    for line, repeat in (("::group::arm=lake_only seed=2 inputs=4 lr=0.002", {"seed": 2.0}),
                         ("=== fold 3 ===", {"fold": 3.0}), ("[trial=4] training", {"trial": 4.0})):
        [record] = parsed([line])
        assert record["kind"] == "heading" and record["repeat"] == repeat


def test_a_counter_beside_a_loss_or_a_fraction_announces_no_run():
    [record] = parsed(["seed 2 loss 0.5"])
    assert record["kind"] == "progress" and record["loss"] == 0.5
    [record] = parsed(["seed 2 val_acc 0.9"])
    assert record["kind"] == "progress" and "repeat" not in record
    assert parsed(["seed 0.5 of the pool"]) == []


def test_announced_runs_each_start_a_curve_and_the_last_is_too_short_to_judge():
    raw = ablation(announce=True)
    losses = [v for _, _, run in RUNS for v in run]
    assert phases.last_start(raw, losses) == 15
    assert classify(raw).kind == "pass"


def test_without_the_announcements_the_runs_stay_one_curve_that_did_not_fall():
    raw = ablation(announce=False)
    assert phases.last_start(raw, [v for _, _, run in RUNS for v in run]) == 0
    assert classify(raw).label == "not_learning:trend"


# fresh382 `quarry_blast_permtest`'s train_bce: a real run, then three label-permutation
# controls, four reports each, the step counter from 150 again at each
# (train_bce, test_bce) and the closing test AUC, as printed
PERMUTED = [("real", [(0.5215, 0.5295), (0.5131, 0.5219), (0.5096, 0.5247), (0.5066, 0.5267)],
             80.6),
            ("permuted_0", [(0.6455, 0.6614), (0.6272, 0.6962), (0.6113, 0.7120),
                            (0.6057, 0.6920)], 57.5),
            ("permuted_1", [(0.6466, 0.7618), (0.6360, 0.7226), (0.6280, 0.7446),
                            (0.6253, 0.7711)], 43.0),
            ("permuted_2", [(0.6615, 0.6712), (0.6547, 0.6787), (0.6490, 0.6817),
                            (0.6462, 0.6710)], 57.6)]


def permutation_test(announce: bool) -> RawResult:
    lines = []
    for name, reports, auc in PERMUTED:
        lines += [f"run\t{name}"] if announce else []
        lines += [f"\tstep {150 * (i + 1)}\ttrain_bce {bce:.4f}\ttest_bce {test:.4f}"
                  for i, (bce, test) in enumerate(reports)]
        lines += [f"\ttest_auc_pct {auc}"]
    return RawResult(records=parsed(lines), exit_code=0, watched=True)


def test_a_runs_name_alone_on_its_line_is_a_heading_with_the_name():
    for line, repeat in (("run\tpermuted_0", {"run": "permuted_0"}),
                         ("=== model: mlp ===", {"model": "mlp"}),
                         ("arm = no_aux", {"arm": "no_aux"})):
        [record] = parsed([line])
        assert record["kind"] == "heading" and record["repeat"] == repeat
    assert parsed(["run complete in 4.2s", "model:"]) == []


def test_named_runs_each_start_a_curve_where_the_counter_goes_back():
    losses = [bce for _, reports, _ in PERMUTED for bce, _ in reports]
    assert phases.last_start(permutation_test(announce=True), losses) == 12
    assert classify(permutation_test(announce=True)).kind == "pass"
    assert classify(permutation_test(announce=False)).label == "not_learning:trend"
