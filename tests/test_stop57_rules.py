"""Stop 57's changes to watch's judging and reading: a training loss at its floor while the
held-out loss never improves is an answer the model sees only at training
(`judging.leaked_answer`, fresh110 `caption_lm_padmask_causal`); a loss that fell ~10% before
its second report and drifted up a little after learned (`program.fell_and_held`, fresh107
`refill_dpsgd_rst`); a dash under a fixed-width table's column is a value not there, the row
still read (`ProgressParser._aligned`); `held-out` before a loss names a held-out loss
(fresh111 `slice_head_lora`); a held-out share at exactly 1 is at its bound, no stale
evaluation (fresh27 `online_dpo_step_tuple_ok`); a header with a negated name (`test -elbo`)
and a qualified loss (`recon nll`) names its columns, and a table whose bracketed names
(`p(right)`) name no metric is no progress (fresh113's two false alarms); a breakdown by group
after training is no reload (fresh117 `railway_transe_growing_graph`); a table of update
windows (`61-120`) with centred cells is read (fresh113 `ferry_dock_a2c_silent`); a
learning rate that grows with the step is named in the fix (fresh53 `sb3_schedule_bandit`);
folds trained in turn are judged one at a time (fresh121 `perry_pear_mixup_folds`); a
reference's value is named with it and judged neither loss nor divergence (fresh122)."""

from __future__ import annotations

from mlxprobe import metric_names
from mlxprobe.judging import phases
from mlxprobe.judging.verdict import classify
from mlxprobe.watching import fields
from mlxprobe.watching.facts import RawResult
from mlxprobe.watching.output import ProgressParser

# fresh110 `caption_lm_padmask_causal` as printed: the causal mask replaced by a padding mask
TRAIN = [0.8497, 0.0025, 0.0016, 0.0008, 0.0006, 0.0005]
VAL = [6.8391, 7.6167, 7.6753, 7.7454, 7.8638, 7.9501]
# its fixed twin
TRAIN_OK = [1.383, 0.663, 0.625, 0.600, 0.584, 0.588]
VAL_OK = [0.749, 0.630, 0.608, 0.594, 0.594, 0.598]
# fresh107 `refill_dpsgd_rst`'s DP-SGD table: train BCE per epoch
DP_BCE = [0.4952, 0.4277, 0.4373, 0.4409, 0.441, 0.4431, 0.4415, 0.4413, 0.4417, 0.4417]


def reports(train: list[float], held_out: list[float] | None = None,
            name: str = "val_loss") -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": 50 * (i + 1), "t": float(i),
                "loss": loss, **({"metrics": {name: held_out[i]}} if held_out else {})}
               for i, loss in enumerate(train)]
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_training_loss_at_its_floor_while_the_held_out_loss_never_improves_leaks():
    verdict = classify(reports(TRAIN, VAL))
    assert verdict.label == "wrong_result:leaked_answer", verdict.reason
    assert "causal" in verdict.hint and "mask=None" in verdict.hint
    assert verdict.evidence["train_last"] == 0.0005 and verdict.evidence["gap_min"] == 100


def test_the_fixed_twin_and_near_misses_are_not_a_leak():
    assert classify(reports(TRAIN_OK, VAL_OK)).kind == "pass"
    # the held-out loss fell once below its first evaluation: it learned something
    dipped = [VAL[0], VAL[0] * 0.99, *VAL[2:]]
    assert classify(reports(TRAIN, dipped)).label != "wrong_result:leaked_answer"
    # both converged: the held-out loss near the training loss (no gap)
    near = [t * 1.1 + 0.0001 * i for i, t in enumerate(TRAIN)]
    assert classify(reports(TRAIN, near)).label != "wrong_result:leaked_answer"
    # the training loss only fell 20-fold: not at its floor
    slow = [0.85, 0.3, 0.12, 0.08, 0.05, 0.0425]
    assert classify(reports(slow, VAL)).label != "wrong_result:leaked_answer"


def test_a_loss_that_fell_before_its_second_report_and_drifted_up_learned():
    assert classify(reports(DP_BCE)).kind == "pass"
    # a loss that only fell 5% before its second report and held: no fall to speak of
    flat = [0.465 + 0.0004 * ((-1) ** i) for i in range(10)]
    assert classify(reports(flat)).label == "not_learning:trend"


HEADER = "epoch  train_bce  test_bce  test_acc_%  clipped_%  sec"


def test_a_dash_under_a_column_of_a_fixed_width_table_is_a_value_not_there():
    parser = ProgressParser()
    assert parser.parse(HEADER) is None
    record = parser.parse("    1     0.4358    0.4198       81.05          -  0.1")
    assert record["loss"] == 0.4358 and record["metrics"]["test_bce"] == 0.4198
    # a pre-training row: no training loss yet, the held-out one read
    record = parser.parse("    0          -    0.6931       50.00          -  0.0")
    assert "loss" not in record and record["metrics"]["test_bce"] == 0.6931
    # a word that is no dash under a metric column is no value of the table's: not named
    record = parser.parse("    2     0.4194    0.4173       80.90       high  0.2")
    assert "test_bce" not in record.get("metrics", {})


def test_held_out_before_a_loss_names_a_held_out_loss_not_the_training_loss():
    # fresh111 `slice_head_lora`: `base model held-out loss 0.4563` was read as its train loss
    for line, name in (("base model held-out loss 0.4563", "held_out_loss"),
                       ("holdout mse 0.2", "holdout_mse")):
        record = ProgressParser().parse(line)
        assert "loss" not in record and record["metrics"] == {name: float(line.split()[-1])}
    assert metric_names.held_out_loss("held_out_loss") and metric_names.held_out("heldout_nll")


def test_a_held_out_share_at_exactly_one_from_the_start_is_no_stale_evaluation():
    # fresh27 `online_dpo_step_tuple_ok`: `held-out P(chosen>rej)` at 1.000 at every report
    falling = [0.69 * 0.5 ** i for i in range(10)]
    share = reports(falling, [1.0] * 10, "held_out_p")
    assert classify(share).kind == "pass"
    # a held-out loss that never moves while the training loss falls 99% is still stale
    stuck = reports(falling, [0.4563] * 10, "held_out_loss")
    assert classify(stuck).label == "wrong_result:stale_evaluation"


def test_a_header_with_a_negated_name_and_a_qualified_loss_names_its_columns():
    # fresh113 `glacier_hydrograph_vae_anneal`: beta (0.2 -> 1.0, a KL warm-up) was the loss
    parser = ProgressParser()
    assert parser.parse("  step   beta  objective  recon nll       kl  test -elbo   secs") is None
    record = parser.parse("   200  0.200      7.810      6.801    9.970     -25.222    0.7")
    assert record["loss"] == 6.801 and record["loss_name"] == "recon_nll"
    assert record["metrics"]["beta"] == 0.2 and record["metrics"]["test_minus_elbo"] == -25.222
    assert metric_names.normal("test -elbo") == "test_minus_elbo"
    assert metric_names.held_out_loss("test_minus_elbo")


def test_a_table_whose_bracketed_names_name_no_metric_is_no_progress():
    # fresh113 `ferry_dock_a2c_silent`: a final policy table read as steps and losses
    parser = ProgressParser()
    lines = ["berth  p(right)  V", "    1     0.980  0.454", "    2     0.997  0.485"]
    assert [parser.parse(line) for line in lines] == [None, None, None]


def test_a_breakdown_by_group_after_training_is_no_reload():
    # fresh117 `railway_transe_growing_graph`: `final: hits@3 89.7%`, then per relation
    # 90.9%, 100.0%, 0.0%: the last equal to the stage-1 value, one evaluation per group
    updates = [{"kind": "step", "source": "update", "step": s, "t": 0.001 * s}
               for s in range(1, 2401)]
    during = [{"kind": "progress", "source": "output", "step": 300 * i, "t": 0.3 * i + 0.0005,
               "loss": 0.07 - 0.001 * i, "metrics": {"hits@3": value}}
              for i, value in enumerate([9.1, 0.0, 96.8, 95.2, 88.2, 89.7], start=1)]
    after = [{"kind": "progress", "source": "output", "step": 2400, "t": 3.0 + 0.1 * i,
              "metrics": {"hits@3": value}} for i, value in enumerate([89.7, 90.9, 100.0, 0.0])]
    raw = RawResult(records=updates + during + after, exit_code=0, watched=True)
    assert classify(raw).label != "wrong_result:reverted"
    reload = RawResult(records=updates + during + after[:1] + after[-1:], exit_code=0,
                       watched=True)
    assert classify(reload).label == "wrong_result:reverted"


def test_a_table_of_update_windows_with_centred_cells_is_read_at_each_windows_end():
    # fresh113 `ferry_dock_a2c_silent`: an actor-critic's returns per 60 updates, unread
    parser = ProgressParser()
    assert parser.parse("  updates   return  ferry %    policy    value  entropy     |g|") is None
    record = parser.parse("  61-120     0.812    94.7%   -0.0037   0.0135    0.087   0.034")
    assert record["step"] == 120 and record["metrics"]["return"] == 0.812
    assert record["metrics"]["entropy"] == 0.087


def test_a_learning_rate_that_grows_with_the_step_is_named_in_the_fix():
    # fresh53 `sb3_schedule_bandit_broken`: an SB3-style schedule called with the step count
    lrs = [0.447 * i for i in range(11)]
    rewards = [0.387, 0.711, 0.543, 0.520, 0.641, 0.352, 0.398, 0.371, 0.336, 0.453, 0.184]
    records = [{"kind": "progress", "source": "output", "step": 150 * i, "t": float(i),
                "loss": 0.6 + 0.01 * (i % 3), "loss_name": "vf_loss",
                "metrics": {"lr": lr, "reward": reward}}
               for i, (lr, reward) in enumerate(zip(lrs, rewards))]
    verdict = classify(RawResult(records=records, exit_code=0, watched=True))
    assert verdict.label == "not_learning:receding" and "step count" in verdict.hint
    # a range test's rate grows by a factor each report: no such note
    sweep = [dict(r, metrics={"lr": 1e-5 * 3.0 ** i, "reward": r["metrics"]["reward"]})
             for i, r in enumerate(records)]
    assert "step count" not in classify(RawResult(records=sweep, exit_code=0,
                                                  watched=True)).hint


def test_folds_trained_in_turn_are_judged_one_fold_at_a_time():
    # fresh121 `perry_pear_mixup_folds`: four folds of six epochs, a noisy mixup loss each
    folds = [[0.912, 0.836, 0.824, 0.809, 0.837, 0.840], [0.911, 0.854, 0.836, 0.794, 0.829,
             0.791], [0.861, 0.820, 0.848, 0.842, 0.814, 0.819], [0.920, 0.858, 0.889, 0.865,
             0.877, 0.850]]

    def run(counter: str) -> RawResult:
        records = [{"kind": "progress", "source": "output", "step": e + 1, "t": 6.0 * k + e,
                    "loss": loss, "metrics": {counter: float(k + 1)},
                    **({"restart": True} if k and not e else {})}
                   for k, fold in enumerate(folds) for e, loss in enumerate(fold)]
        return RawResult(records=records, exit_code=0, watched=True)

    losses = [loss for fold in folds for loss in fold]
    assert phases.last_start(run("fold"), losses) == 18
    assert classify(run("fold")).kind == "pass" and classify(run("seed")).kind == "pass"
    # the same numbers under a counter that names no repeated run: one curve of 24
    assert phases.last_start(run("block"), losses) == 0
    assert metric_names.repeat_counter("k_fold") and not metric_names.repeat_counter("epoch")


def test_a_references_value_is_named_with_it_and_judged_neither_loss_nor_divergence():
    # fresh122 `skilift_queue_tobit_logphi`: `(naive gives -inf)` in a custom VJP's check line
    line = fields.read("check: value at z=-9: -43.628 (naive gives -inf)")
    assert "naive_gives" in line.values and "gives" not in line.values
    assert not metric_names.judged_for_finite("naive_gives")
    # fresh122 `sled_team_frozen_trunk_jsonl`: the class prior's CE printed at every report
    assert metric_names.loss_rank("prior_ce") is None and metric_names.loss_rank("test_ce") is None
    assert metric_names.loss_rank("train_ce_ema") is not None


def test_a_training_loss_at_a_fiftieth_of_its_first_with_a_held_out_loss_that_never_fell():
    """fresh192 `padmask_phi_tiny` (mlx-vlm phi3_v): 0.0147x its first, 182x apart."""
    train = [2.9488, 2.0709, 0.2903, 0.0358, 0.1705, 0.0434]
    held_out = [3.7614, 4.1818, 8.1076, 9.7057, 9.0579, 7.8942]
    assert classify(reports(train, held_out, "heldout_causal_ce")).label == \
        "wrong_result:leaked_answer"
