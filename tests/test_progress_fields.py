"""Progress and metrics read from output lines in the shapes real training scripts print
(`watching.fields`, `watching.output`), and what a metric's name says (`metric_names`)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlxprobe import metric_names
from mlxprobe.watching import fields
from mlxprobe.watching.output import ProgressParser


@pytest.mark.parametrize("line, step, loss, loss_name, metrics", [
    ("| epoch 3 | batch 10/50 | mse 0.0231 | mae 0.1 |", 10, 0.0231, "mse", {"mae": 0.1}),
    ("Epoch 3:  45%|####5     | 45/100 [00:01<00:01, 30.10it/s, loss=0.523, acc=0.81]",
     45, 0.523, None, {"acc": 0.81}),
    ('{"step": 10, "loss": NaN, "metrics": {"acc": 0.9}}', 10, "nan", None, {"acc": 0.9}),
    ("{'iter': 4, 'objective': array(nan, dtype=float32)}", 4, None, None,
     {"objective": "nan"}),
    ("[12] err=0.33 kl=1.2", 12, 0.33, "err", {"kl": 1.2}),
    ("Epoch 2/10 - train_loss: 0.41 - val_loss: 0.52 - val_acc: 93.2%", 2, 0.41,
     "train_loss", {"val_loss": 0.52, "val_acc": 93.2}),
    ("INFO:root:step 10 recon 0.5 kl 0.1", 10, 0.5, "recon", {"kl": 0.1}),
    ("epoch 3 loss 1.2", 3, 1.2, None, None),
    ("it 7 ppl 35.2 lr 1e-3", 7, 35.2, "ppl", {"learning_rate": 0.001}),
    # values in brackets after their names (fresh29 grad_accum_last_microbatch, gpt-mlx)
    ("Step [10]\t\tTraining Loss [3.7917]\t\tLR [0.5]\t\t[0.4s]", 10, 3.7917,
     "training_loss", {"learning_rate": 0.5}),
    ("acc [3]: 0.5 loss 1.0", 1, 1.0, None, None),  # a bracket before a colon: no value
    # a qualifier glued to its name (fresh30 rope_built_never_applied: f"loss(ema) {v:.4f}")
    ("it   25  loss(ema) 2.5972  val_acc 0.179  |g| 0.443    0.8s", 25, 2.5972, "loss_ema",
     {"val_acc": 0.179, "g": 0.443}),
    # two values named alike keep their two-word names (fresh21 grpo_bandit_ratio_flip)
    ("INFO iter 25 | loss 0.0691 | sampled reward 0.000 | greedy reward 0.018 | 0.3s", 25,
     0.0691, None, {"sampled_reward": 0.0, "greedy_reward": 0.018}),
    # an aligned column pads past four spaces, and `-elbo` is the negative ELBO, a loss
    # (fresh24 advi_samples_outside_grad: f"it {i:5d}  -elbo {v:12.3f}")
    ("it     1  -elbo     3558.823  (0.0s)", 1, 3558.823, "minus_elbo", None),
    # the ELBO itself, negative: its negative is the loss (fresh24 bernoulli_vi_*)
    ("INFO iter 200 elbo -39.262", 200, 39.262, "neg_elbo", {"elbo": -39.262}),
])
def test_common_shapes(line, step, loss, loss_name, metrics):
    record = ProgressParser().parse(line)
    assert record["step"] == step
    assert record.get("loss") == loss
    assert record.get("loss_name") == loss_name
    assert record.get("metrics") == metrics


@pytest.mark.parametrize("line, name", [("reward: -12.5", "reward"), ("energy nan", "energy"),
                                        ("accuracy 0.93", "accuracy")])
def test_a_line_without_a_position_counts_when_its_number_is_evidence(line, name):
    record = ProgressParser().parse(line)
    assert record["step"] == 1 and name in record["metrics"]


def test_a_number_glued_to_a_unit_or_without_a_name_is_nobodys():
    line = fields.read("12:00:01 took 1.5s at 30it/s, 3 workers")
    assert line.values == {} and line.step is None


def test_steps_continue_across_epochs_and_lines_are_counted_without_steps():
    parser = ProgressParser()
    got = [parser.parse(f"epoch {e} iter {i} loss 1.0")["step"] for e in (1, 2)
           for i in (10, 20)]
    assert got == [10, 20, 30, 40]
    assert parser.parse("val_loss 0.9")["step"] == 40  # a validation line after a step
    counting = ProgressParser()
    assert [counting.parse(f"mse: {v}")["step"] for v in (0.3, 0.2, 0.1)] == [1, 2, 3]


@pytest.mark.parametrize("name, role", [
    ("loss", metric_names.LOSS), ("train_loss", metric_names.LOSS),
    ("val_mse", metric_names.LOSS), ("ppl", metric_names.LOSS), ("acc", metric_names.ACCURACY),
    ("val_accuracy", metric_names.ACCURACY), ("reward", metric_names.ACCURACY),
    ("tokens/sec", metric_names.RATE), ("it/s", metric_names.RATE),
    ("elapsed_time", metric_names.RATE), ("peak_mem", metric_names.RATE),
    ("epoch", metric_names.POSITION), ("kl", metric_names.OTHER),
    ("kl_loss", metric_names.OTHER), ("learning_rate", metric_names.OTHER),
    ("smooth_l1", metric_names.LOSS), ("huber", metric_names.LOSS),
    ("l1_norm", metric_names.OTHER), ("l1_w", metric_names.OTHER),
    ("recall@1", metric_names.ACCURACY), ("greedy_match", metric_names.ACCURACY),
    ("exact_match", metric_names.ACCURACY), ("mismatch_count", metric_names.RATE),
    ("ndcg@10", metric_names.ACCURACY), ("psnr", metric_names.ACCURACY),
    ("window_regret_per_round", metric_names.LOSS), ("cum_regret", metric_names.OTHER),
    ("cumulative_loss", metric_names.OTHER), ("preq_acc_cum", metric_names.ACCURACY),
    ("elbo", metric_names.OTHER), ("neg_elbo", metric_names.LOSS), ("nelbo", metric_names.LOSS),
    ("minus_elbo", metric_names.LOSS), ("minus_loss", metric_names.OTHER),
    ("neg_loss", metric_names.LOSS),
    # a reference printed beside the loss, fixed by construction (fresh25 zip_claims_csv)
    ("const_rate_nll", metric_names.OTHER), ("baseline_mse", metric_names.OTHER),
    ("teacher_loss", metric_names.OTHER), ("refine_loss", metric_names.LOSS),
    # a trivial predictor's error (fresh36 compiled_noise_state's identity map)
    ("identity_mse", metric_names.OTHER), ("naive_mae", metric_names.OTHER),
    ("persistence_rmse", metric_names.OTHER), ("train_mse", metric_names.LOSS),
])
def test_roles(name, role):
    assert metric_names.role(name) == role


def test_a_name_written_negated_keeps_its_sign():
    assert metric_names.normal("-elbo") == "minus_elbo"
    assert metric_names.normal("x-y") == "x_y" and metric_names.normal("- loss") == "loss"


def test_a_positive_elbo_is_not_negated_into_a_loss():
    assert fields.read("step 3 elbo 12.5").values == {"elbo": 12.5}


def test_the_training_loss_is_never_a_validation_metric_and_a_total_beats_its_parts():
    assert metric_names.loss_rank("val_loss") is None
    assert metric_names.loss_rank("loss") < metric_names.loss_rank("total_loss") \
        < metric_names.loss_rank("recon_loss") < metric_names.loss_rank("mse")
    assert metric_names.lower_is_better("acc") is False
    assert metric_names.lower_is_better("objective") is None


@given(st.text(max_size=200))
def test_fields_never_raise_and_values_are_floats(text):
    line = fields.read(text)
    assert all(isinstance(v, float) for v in line.values.values())
    assert line.step is None or line.step >= 0
    assert all(n == n.lower() and " " not in n for n in line.values)


def test_a_mean_is_named_after_what_it_averages():
    # mlx-lm-lora's GRPO prints "rewards mean 0.000 std 0.000": the mean is a reward
    line = fields.read("iter 10 | rewards mean 0.000 std 0.000 | loss 0.1")
    assert line.values["rewards_mean"] == 0.0 and line.values["loss"] == 0.1
    assert fields.read("Iter 5: Train loss 1.2, Rewards mean -0.3").values == {
        "train_loss": 1.2, "rewards_mean": -0.3}
    assert fields.read("step mean 0.3").values == {"mean": 0.3}  # a position is no subject


def test_a_qualifier_in_brackets_before_the_colon_is_part_of_the_name():
    """fresh23's GRPO printed `mean group reward (last 60): 0.588`: the 60 is no value."""
    line = fields.read("Step 60/1200, Loss: 0.0253, Policy Reward: 0.0, KL: 1.27, "
                       "mean group reward (last 60): 0.588, 0.1s")
    assert line.values == {"loss": 0.0253, "policy_reward": 0.0, "kl": 1.27, "reward": 0.588}
    assert fields.read("acc (%): 93.5 loss=0.2").values == {"acc": 93.5, "loss": 0.2}


def test_a_table_row_with_a_time_column_is_read_by_its_header():
    """fresh23's VAE table: right-aligned columns and a `0.3s` time cell; the loss is the
    `loss` column, the KL weight a metric."""
    parser = ProgressParser()
    assert parser.parse("epoch   kl_w         loss        recon           kl   time") is None
    row = parser.parse("    4   6.25  432871.4773   98771.2621   53456.0350   1.1s")
    assert row["step"] == 4 and row["loss"] == 432871.4773
    assert row["metrics"] == {"kl_w": 6.25, "recon": 98771.2621, "kl": 53456.035}


SB3_BLOCK = """------------------------------------
| rollout/             |           |
|    ep_rew_mean       | {reward}     |
|    exploration_rate  | 0.578     |
| time/                |           |
|    total_timesteps   | {steps}      |
| train/               |           |
|    loss              | 0.0223    |
------------------------------------"""


def test_a_vertical_key_value_block_is_one_report():
    # Stable-Baselines3's logger, as fresh34 dqn_eps_schedule prints it every 1000 steps
    parser = ProgressParser()
    text = SB3_BLOCK.format(reward=0.642, steps=1000) + "\n" + SB3_BLOCK.format(
        reward=0.258, steps=2000)
    records = [r for r in map(parser.parse, text.splitlines()) if r]
    assert [r["step"] for r in records] == [1000, 2000]
    assert [r["loss"] for r in records] == [0.0223, 0.0223]
    assert [r["metrics"]["ep_rew_mean"] for r in records] == [0.642, 0.258]
    assert metric_names.role("ep_rew_mean") == metric_names.ACCURACY


def test_a_two_column_row_outside_a_block_is_not_progress_alone():
    parser = ProgressParser()
    assert parser.parse("| lr | 0.001 |") is None
    assert parser.parse("| epoch | step | loss |") is None  # a header starts a table


def test_an_escaped_line_break_separates_names_never_joins_them():
    # fresh37 plackett_luce_races_ical: an iCalendar DESCRIPTION holds one report per line
    line = fields.read(r"DESCRIPTION:nll=5.2535\nval_nll=5.5075\nkendall_tau=0.872\tacc=0.4")
    assert line.values == {"nll": 5.2535, "val_nll": 5.5075, "kendall_tau": 0.872, "acc": 0.4}


def test_a_table_with_bars_and_a_note_column_is_read_by_its_header():
    """fresh19 correct_net2net_widening: `step | width | mse | note`, rows whose note is
    empty or holds words; the width column was read as the loss before."""
    parser = ProgressParser()
    assert parser.parse(" step | width |       mse | note") is None
    plain = parser.parse("   30 |     4 |   0.27298 |")
    noted = parser.parse("  150 |    12 |   0.09128 | widened (mse before 0.09125)")
    assert (plain["step"], plain["loss"], plain["metrics"]) == (30, 0.27298, {"width": 4.0})
    assert (noted["step"], noted["loss"]) == (150, 0.09128)


def test_top_k_columns_and_a_dash_for_a_value_not_there_yet_are_read():
    """fresh44 topk_isin_accuracy: `epoch | train_ce | val_ce | acc@1 | acc@5 | time`, its
    first row (before training) with `-` for the training loss; no column was read before."""
    parser = ProgressParser()
    assert parser.parse("epoch | train_ce |  val_ce |  acc@1 |  acc@5 |  time") is None
    first = parser.parse("    0 |        - |  2.3232 |  1.000 |  1.000 |   0.0")
    later = parser.parse("    1 |   0.7243 |  0.5262 |  1.000 |  1.000 |   0.3")
    assert first["metrics"]["acc@1"] == 1.0 and first["metrics"]["val_ce"] == 2.3232
    assert "loss" not in first or first.get("loss_name") != "train_ce"
    assert (later["loss"], later["loss_name"], later["metrics"]["acc@5"]) == (
        0.7243, "train_ce", 1.0)


def test_a_score_at_an_iou_threshold_is_read_under_its_whole_name():
    """fresh265 railhead_echo_fcos: `F1@0.5  96.0%` beside a falling IoU loss term; read as
    no metric, the run's rising score was missed and `receding` judged the IoU term alone."""
    line = ("   step   50  lr 3.27e-03  train 0.6979  valid 0.2483  (focal 0.0472 iou 0.2012)"
            "  F1@0.5  96.0%    1.9s")
    metrics = ProgressParser().parse(line)["metrics"]
    assert metrics["f1@0.5"] == 96.0 and metrics["iou"] == 0.2012
    assert ProgressParser().parse("epoch 2 map@0.75 0.42 loss 1.2")["metrics"] == {
        "map@0.75": 0.42}
    assert metric_names.lower_is_better("f1@0.5") is False


def test_a_bar_inside_a_column_name_does_not_split_the_header():
    """fresh45 poincare_tree_rsgd: `epoch lr loss mean_rank mAP max|x| root|x|`: the
    header was split into nine cells for seven columns and the lr read as the loss."""
    parser = ProgressParser()
    assert parser.parse("epoch      lr     loss  mean_rank     mAP  max|x|  root|x|") is None
    row = parser.parse("   90   2.000   1.5443       5.53   0.467   0.817    0.084")
    assert (row["step"], row["loss"], row["metrics"]["learning_rate"]) == (90, 1.5443, 2.0)


def test_a_line_with_a_training_and_a_validation_loss_keeps_the_training_one():
    """fresh36 lr_callback_double_step logs `step 50 lr ... train_loss 0.6652 val_loss
    0.6669`: the step-and-loss form matched the validation loss, and no loss was read."""
    parser = ProgressParser()
    record = parser.parse("2026-11-25 19:50:01,123 INFO trainer: epoch  1 step   50 lr "
                          "9.65e-04 train_loss 0.6652 val_loss 0.6669 val_acc 0.581")
    assert (record["loss"], record["loss_name"]) == (0.6652, "train_loss")
    assert record["metrics"]["val_loss"] == 0.6669
    val_only = parser.parse("Iter 60: Val loss 6.337, Val took 0.89s")
    assert "loss" not in val_only and val_only["metrics"]["val_loss"] == 6.337


def test_a_bracket_tagged_repeat_of_a_name_is_read_apart():
    # fresh49 flatland_nerf_testcopy: a train batch's PSNR, then the test set's, on one line
    line = fields.read("[TRAIN] Iter:   50  Loss: 0.01749  PSNR(train batch): 17.57  |  "
                       "[TEST] PSNR: 9.59  (0.8s)")
    assert line.values == {"loss": 0.01749, "psnr": 17.57, "test_psnr": 9.59}
    assert fields.read("[TEST] PSNR: 9.59").values == {"psnr": 9.59}  # alone: its own name


def test_a_table_header_with_units_in_brackets_names_its_columns():
    # fresh53 ballistic_drag_rangecard: `k (1/m)` kept the header from being read, and a
    # built-in `N | value` pattern took each row's first number (a parameter) as the loss
    parser = ProgressParser()
    assert parser.parse(" iter |   k (1/m) | wind m/s | v-scale | track rmse m") is None
    row = parser.parse("   50 |   0.02249 |   -1.458 |  0.9710 |       0.6478")
    assert row["loss"] == 0.6478 and row["loss_name"] == "track_rmse_m"
    assert row["metrics"]["k"] == 0.02249 and row["step"] == 50


def test_a_bar_inside_a_header_cell_is_part_of_its_name():
    # fresh55 kd_klformula_sum_first: `KL(t||s)` split the header into eight cells for six
    # columns, and the table was not read; a norm's bars (`|grad|`, `max|W|`) part words
    parser = ProgressParser()
    assert parser.parse("epoch |   kd_loss |  KL(t||s) |  agree | val_acc |   time") is None
    row = parser.parse("    1 |  -32.0638 |    1.8163 |  0.126 |   0.124 |   4.8s")
    assert row["loss"] == -32.0638 and row["loss_name"] == "kd_loss"
    assert row["metrics"] == {"kl": 1.8163, "agree": 0.126, "val_acc": 0.124}
    norms = ProgressParser()
    assert norms.parse("| epoch  | recon_mse | avg_loglik  | max|W| |") is None
    row = norms.parse("|      0 |    0.2497 |    -11.1103 |   0.16 |")
    assert row["loss"] == 0.2497 and row["metrics"]["max_w"] == 0.16


def test_a_value_changed_from_one_number_to_another_is_the_new_one():
    # the catalogue's nan_unchecked example ends with `held-out loss 1.5404 -> 0.0310`: read as
    # a loss of 1.5404 after training, it made `wrong_result:degraded` when the last training
    # report was counted after every update (stdout read later than the update records); a
    # held-out loss since stop 57 (`held-out` qualifies the name), its new value all the same
    assert fields.read("held-out loss 1.5404 -> 0.0310").values == {"held_out_loss": 0.031}
    assert fields.read("lr 1e-3 -> 5e-4  loss 2.0").values == {"learning_rate": 5e-4,
                                                               "loss": 2.0}


@pytest.mark.parametrize("text, values", [
    ("SimMLP Epoch 20/200: loss at 7.5697", {"loss": 7.5697}),  # fresh178 onehot_namegen_sgd
    ("val loss at 3.2, acc 0.5", {"val_loss": 3.2, "acc": 0.5}),
])
def test_a_loss_named_with_at_before_its_value_is_read(text: str, values: dict) -> None:
    assert fields.read(text).values == values


def test_at_before_a_step_word_or_after_a_cut_off_name_is_no_loss() -> None:
    assert "loss" not in fields.read("loss at step 5").values
    assert "recall" not in fields.read("recall at 5 0.8").values


@pytest.mark.parametrize("text, values", [
    # fresh203 raku_glaze_recipe_gan_rmsprop: each family's share read as a `gloss` loss
    ("check ep1: |mean-ref|=0.256 in-family 25.1% matte/gloss/crackle 2/13/10%",
     {"mean_ref": 0.256, "in_family": 25.1}),
    ("burn/hold/vent = 55%/0%/45%  error 3.2", {"error": 3.2}),
    ("run 2024/01/05 loss 0.5", {"loss": 0.5}),
])
def test_three_or_more_numbers_joined_by_slashes_are_shares_of_no_one_name(
        text: str, values: dict) -> None:
    assert fields.read(text).values == values


def test_two_numbers_joined_by_a_slash_keep_their_step_reading() -> None:
    assert fields.read("batch 10/50 loss 0.3").step == 10


def test_a_held_out_metric_heading_keyed_labels_names_them_as_its_variants() -> None:
    """fresh204 lora_fuse_armpose: the fused model's error read as a value named `fused`."""
    line = fields.read("val_mse adapters=0.01096  fused=0.63773  (base policy 0.46588)")
    assert line.values == {"val_mse:adapters": 0.01096, "val_mse:fused": 0.63773,
                           "policy": 0.46588}
    assert metric_names.role("val_mse:fused") == metric_names.LOSS


@pytest.mark.parametrize("text", [
    "final psnr over 1024 px: 42.62dB",  # no held-out metric heads it
    "val mse: adapters 0.011, fused 0.64",  # labels not keyed
    "loss parts: recon=0.3 kl=0.1",  # labels with roles of their own
])
def test_a_line_with_no_keyed_variants_of_a_held_out_metric_keeps_its_names(text: str) -> None:
    assert not any(":" in name for name in fields.read(text).values)


def test_like_named_keys_of_two_nested_objects_are_named_after_their_parents() -> None:
    """fresh206 crossword_clue_editor_dpo: the SFT stage's regret beside the DPO stage's."""
    line = fields.read('{"stage": "summary", "sft": {"best_pick_pct": 80.87, "regret": 1.3134}, '
                       '"dpo": {"best_pick_pct": 83.6, "regret": 0.096, "kl_to_ref": 0.686}}')
    assert line.values == {"sft_best_pick_pct": 80.87, "sft_regret": 1.3134,
                           "dpo_best_pick_pct": 83.6, "dpo_regret": 0.096, "kl_to_ref": 0.686}
    # a nested key named once keeps its name
    assert fields.read('{"step": 3, "train": {"loss": 0.5}}').values == {"loss": 0.5}


def test_a_number_after_a_function_word_is_no_variant_of_the_metric_before_it() -> None:
    # fresh255 apiary_comb_spans (correct): `train ce floor set by 6% tag noise` was read as
    # a training loss of 6 (`train_ce:by`) after 0.276, and the run as wrong_result:degraded
    line = fields.read("entity F1 1.000 (all-O 0.000), train ce floor set by 6% tag noise")
    assert not any(name.startswith("train_ce") for name in line.values)
    assert "test_acc:checkpoint" in fields.read("test acc restored checkpoint 26.7%").values


def test_a_chain_of_labelled_values_is_read_at_its_last_value() -> None:
    """fresh269 `belfry_escapement_precision_stages`: a summary's baseline, labelled in
    parentheses before its arrow, was read as the final validation error."""
    line = fields.read("done: val rmse 8.739 (mean guess) -> 0.643 (stage A) -> 0.621 s/day")
    assert line.values["val_rmse"] == 0.621
    other = fields.read("restored epoch 7 (valid error 12.30%) -> test error 11.00%")
    assert other.values == {"valid_error": 12.3, "test_error": 11.0}
