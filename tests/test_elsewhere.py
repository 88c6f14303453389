"""`judging/elsewhere`: a loss read by its name that rises while the run learns on another
measure (an accuracy that rose, another task's error that fell) is not an explosion and not
a stall (fresh8's correct_active_learning_rounds and correct_task_switch_ewc); a run whose
every measure gets worse still diverges."""

from __future__ import annotations

from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult


def run(metrics: list[dict[str, float]], loss_name: str) -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": 10 * (i + 1), "t": float(i),
                "loss": m[loss_name], "loss_name": loss_name, "metrics": m}
               for i, m in enumerate(metrics)]
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_summed_loss_that_grows_while_the_accuracy_rises_passes() -> None:
    rows = [{"train_ce_sum": 1.0 + 2.0 * i, "test_acc": min(0.996, 0.96 + 0.01 * i)}
            for i in range(12)]
    verdict = classify(run(rows, "train_ce_sum"))
    assert verdict.kind == "pass" and "test_acc" in verdict.reason


def test_the_error_of_a_task_no_longer_trained_is_not_the_objective() -> None:
    rows = [{"mse_a": 0.003 if i < 6 else 0.35, "mse_b": 0.75 if i < 6 else 0.003}
            for i in range(12)]
    verdict = classify(run(rows, "mse_a"))
    assert verdict.kind == "pass" and "mse_b" in verdict.reason


def test_a_run_worse_on_every_measure_still_diverges() -> None:
    rows = [{"loss": 0.5 * 1.5 ** i, "acc": max(0.1, 0.9 - 0.05 * i)} for i in range(12)]
    assert classify(run(rows, "loss")).label == "diverged:exploding"
    rows = [{"mse_a": 0.1 * 1.5 ** i, "mse_b": 0.1 * 1.4 ** i} for i in range(12)]
    assert classify(run(rows, "mse_a")).kind == "diverged"


def test_an_accuracy_that_climbed_and_fell_back_is_no_learning_elsewhere() -> None:
    """fresh208 splitvocab_caption: label ids past a pruned head; the loss 3.88 -> 65,743,
    the caption accuracy 9.2% -> 59.3% -> 21.3%."""
    acc = [9.2, 59.3, 55.0, 50.0, 45.0, 40.5, 35.0, 30.0, 27.0, 25.0, 23.0, 21.3]
    rows = [{"train_loss": 3.88 * 2.4 ** i, "val_caption_acc": a} for i, a in enumerate(acc)]
    verdict = classify(run(rows, "train_loss"))
    assert verdict.label == "diverged:exploding"
    assert "logits.shape[-1]" in verdict.hint  # orders of magnitude, all finite


SPIKES = [3.4e4, 0.85, 0.021, 0.011, 4.8e4, 0.008, 0.010, 5.7e4, 0.012, 0.0097, 1.1e5, 0.0066,
          0.012, 0.0083, 3.1e4, 9.4e3, 6.6e3, 2.2e4, 1.0e5, 4.8e4, 1.3e5, 2.1e5, 1.7e4, 0.0077]


def test_batch_outliers_beside_a_validation_error_that_converged_are_no_explosion() -> None:
    """correct_outlier_spikes_huber (fresh10): 1% gross target outliers make the batch
    error jump at 13 of 24 reports while the validation error fell in its first third and
    stayed there."""
    val = [1.96, 0.77, 0.115] + [0.0778] * 21
    rows = [{"batch_mse": b, "val_mae": v} for b, v in zip(SPIKES, val)]
    verdict = classify(run(rows, "batch_mse"))
    assert verdict.kind == "pass" and "val_mae" in verdict.reason


def test_spikes_beside_a_validation_error_that_climbs_back_still_diverge() -> None:
    val = [1.96, 0.77, 0.115] + [0.0778 * 1.4 ** i for i in range(21)]
    rows = [{"batch_mse": b, "val_mae": v} for b, v in zip(SPIKES, val)]
    assert classify(run(rows, "batch_mse")).kind == "diverged"


LAGRANGIAN = [1.5896, 0.0103, 0.0096, 0.0094, 0.43, 0.4682, 0.4716, 0.4718, 0.4717, 0.4716,
              0.4716, 0.4715, 0.4715, 0.4714, 0.4714, 0.4713]


def test_a_loss_that_rose_to_a_steady_level_under_half_its_start_is_no_explosion() -> None:
    """correct_a11_lagrangian_dual_ascent (fresh11): an unconstrained fit, then a constraint's
    multiplier switched on: the mse rose 50x from its best and settled, under a third of its
    first report; neither an explosion nor a loss that does not fall."""
    verdict = classify(run([{"lagrangian": v} for v in LAGRANGIAN], "lagrangian"))
    assert verdict.kind == "pass"


def test_a_loss_that_climbs_on_or_passes_its_start_still_explodes() -> None:
    climbing = LAGRANGIAN[:4] + [0.05 * 1.4 ** i for i in range(12)]
    assert classify(run([{"loss": v} for v in climbing], "loss")).kind == "diverged"
    past = LAGRANGIAN[:4] + [3.2 + 0.001 * i for i in range(12)]
    assert classify(run([{"loss": v} for v in past], "loss")).kind == "diverged"


CURRICULUM = [0.3632, 0.0015, 0.0004, 0.0514, 0.0067, 0.0023, 0.1144, 0.0129, 0.0084, 0.0064,
              0.0043, 0.0042]


def test_a_curriculum_whose_loss_falls_again_after_each_stage_is_no_explosion() -> None:
    """fresh74 knitting_stitch_curriculum: rows of 4, 8, then 16 instructions; the loss
    jumps at each switch and falls again, ending at 1% of its first report while still
    falling."""
    assert classify(run([{"train_mse": v} for v in CURRICULUM], "train_mse")).kind == "pass"
    rising = CURRICULUM[:8] + [0.0084, 0.012, 0.019, 0.031]
    assert classify(run([{"train_mse": v} for v in rising], "train_mse")).kind == "diverged"


REPTILE = [0.2894, 1.9349, 0.4548, 3.8130, 8.2588, 3.9635, 3.3909, 0.4304, 1.3745, 0.4319,
           1.3799]


def test_a_series_noisy_from_its_start_neither_explodes_nor_spikes() -> None:
    """correct_b14_reptile_sine (fresh14): Reptile's loss on a new random task at each report
    (0.29-8.26): window medians 0.455 -> 1.37, a peak of 8.26 after 1.93 in the first window."""
    assert classify(run([{"task_loss": v} for v in REPTILE], "task_loss")).kind == "pass"


HEAVY = [0.2189, 232.17, 0.029, 0.059, 259.16, 181.5, 0.1001, 0.0288, 0.0188, 116.4, 0.0242,
         0.0129]


def test_outlier_batches_as_large_as_the_first_ones_are_no_spike_unless_held_out_rises():
    """a14_clipped_grads_unused_ok (fresh14): a heavy-tailed target, batch losses of 232 in
    the first window and 259 later, while the validation error fell 0.18 -> 0.017."""
    falling = [0.18 * 0.8 ** i for i in range(12)]
    rows = [{"loss": b, "val_loss": v} for b, v in zip(HEAVY, falling)]
    assert classify(run(rows, "loss")).kind == "pass"
    rising = [0.18 * 1.5 ** i for i in range(12)]
    rows = [{"loss": b, "val_loss": v} for b, v in zip(HEAVY, rising)]
    assert classify(run(rows, "loss")).label == "diverged:spike"


# fresh17 `lora_scale20_lr_blowup`: the first report of training already averages a blown-up
# loss, which then falls (read alone: learning); the validation loss measured before the first
# update never comes back within 10x.
BLOWN_TRAIN = [6854.0, 4428.0, 1999.0, 836.4, 560.6, 284.7, 165.6, 157.8, 95.1, 64.1, 49.4,
               31.9, 42.8, 101.1, 245.5]


def held_out_run(val: list[float], train: list[float] = BLOWN_TRAIN) -> RawResult:
    rows = [{"loss": v} for v in train]
    records = [{"kind": "progress", "source": "output", "step": 20 * (i + 1), "t": float(i),
                "loss": m["loss"], "loss_name": "loss", "metrics": m} for i, m in enumerate(rows)]
    records += [{"kind": "progress", "source": "output", "step": 1 + 100 * i, "t": 0.5 + 5 * i,
                 "metrics": {"val_loss": v}} for i, v in enumerate(val)]
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_held_out_loss_that_never_comes_back_near_its_first_evaluation_diverges() -> None:
    verdict = classify(held_out_run([0.864, 361.9, 53.3, 228.3]))
    assert verdict.label == "diverged:held_out"
    assert verdict.evidence["lowest_after_first"] == 53.3 and "learning rate" in verdict.hint


def test_a_held_out_loss_that_dips_back_below_10x_its_start_is_not_that_divergence() -> None:
    assert classify(held_out_run([0.864, 361.9, 5.3, 228.3])).label != "diverged:held_out"
    assert classify(held_out_run([0.864, 361.9])).label != "diverged:held_out"  # 2 evaluations


def test_a_held_out_blow_up_beside_a_flat_training_loss_of_a_compiled_step_names_it() -> None:
    """fresh11 b11_compiled_grad_captures_weights: the compiled step captured the weights, so
    its loss is the first weights' at every epoch while the real weights blow up."""
    flat = [15.46986] * 15
    raw = held_out_run([3.67, 45.7, 3.1e3, 4.29e5], train=flat)
    raw.records.append({"kind": "compile", "where": "/tmp/train.py:29", "call": "compile"})
    verdict = classify(raw)
    assert verdict.label == "diverged:held_out" and "captured its weights" in verdict.hint
    assert "train.py:29" in verdict.hint and "inputs=model.state" in verdict.hint
    plain = classify(held_out_run([3.67, 45.7, 3.1e3, 4.29e5], train=flat))
    assert plain.label == "diverged:held_out" and "captured" not in plain.hint
    falling = held_out_run([0.864, 361.9, 53.3, 228.3])
    falling.records.append({"kind": "compile", "where": "/tmp/train.py:29", "call": "compile"})
    assert "captured" not in classify(falling).hint  # its training loss fell: not stale


GRPO = [0.0112, 0.016, 0.0169, 0.0387, 0.0236, 0.0249, 0.0268, 0.0249, 0.0247, 0.0258,
        0.0423, 0.0249, 0.0244, 0.0259, 0.0269, 0.046, 0.0225, 0.0195, 0.0269, 0.0235,
        0.0205, 0.0276, 0.0289, 0.0296, 0.0252, 0.024, 0.0257, 2.2247, 0.0238, 0.0265]
REWARD = [0.12, 0.158, 0.179, 0.223, 0.295, 0.299, 0.317, 0.347, 0.380, 0.453, 0.424, 0.466,
          0.413, 0.440, 0.496, 0.522, 0.495, 0.433, 0.474, 0.496, 0.490, 0.433, 0.476, 0.494,
          0.472, 0.529, 0.522, 0.529, 0.512, 0.552]


def test_one_report_that_spikes_and_comes_back_is_no_divergence() -> None:
    """grpo_trainer_swallowed_step_ok (fresh26): a GRPO loss near 0.025 with one report of
    2.22 (its KL term 111), then back at 0.024 and 0.027, its reward rising throughout."""
    rows = [{"loss": v, "reward_mean": r} for v, r in zip(GRPO, REWARD)]
    assert classify(run(rows, "loss")).kind == "pass"


def test_a_spike_that_stays_above_the_level_before_it_or_ends_the_run_still_diverges() -> None:
    dead = GRPO[:-2] + [0.05, 0.031]  # later reports above 0.046, the later half's largest
    assert classify(run([{"loss": v} for v in dead], "loss")).label == "diverged:spike"
    last = GRPO[:-1]  # the peak's one later report is fewer than RECOVERED_AFTER
    assert classify(run([{"loss": v} for v in last], "loss")).label == "diverged:spike"


def test_a_recovered_spike_in_a_run_that_learns_nothing_still_diverges() -> None:
    """b8_lamb_trust_ratio_clamp_floor (fresh8): epoch mse ~0.57 at every report, one epoch
    at 26 (a batch at 124), then back: thrashing, not learning, and its spike is kept."""
    flat = [0.564, 0.656, 0.585, 0.593, 0.622, 0.605, 0.568, 0.56, 0.577, 0.628, 0.905,
            0.612, 0.567, 26.48, 0.618, 0.571]
    assert classify(run([{"mse": v} for v in flat], "mse")).label == "diverged:spike"


def test_outlier_batches_between_ordinary_ones_are_no_explosion() -> None:
    """fresh31 gradclip_value_override_ok: a batch loss with gross outlier batches that goes
    back to its start between them (the validation error barely moves, so only the batch
    loss is judged)."""
    batch = [0.9, 4128.2, 0.535, 0.252, 6758.1, 5238.5, 0.48, 174.6, 1020.4, 33.7]
    verdict = classify(run([{"batch_mse": v} for v in batch], "batch_mse"))
    assert verdict.kind != "diverged", verdict.reason
    climbing = [0.9, 3.0, 2.0, 5.0, 9.0, 20.0, 15.0, 60.0, 200.0, 180.0]
    assert classify(run([{"batch_mse": v} for v in climbing], "batch_mse")).kind == "diverged"


def grpo(first: float, reward_step: float) -> list[dict[str, float]]:
    """A GRPO-style run: the loss (KL to the frozen reference) grows from `first` as the
    policy leaves the reference; the average reward rises by `reward_step` a report."""
    return [{"loss": first + 0.0004 * i, "average_reward": 0.116 + reward_step * i}
            for i in range(30)]


def test_a_loss_from_zero_growing_while_the_reward_rises_is_a_policy_leaving_its_reference(
        ) -> None:
    # fresh145 handbell_peal_grpo_ok (mlx-grpo e54e50a): loss -0.0 -> 0.012, reward 0.116 ->
    # 0.41
    assert classify(run(grpo(0.0, 0.01), "loss")).kind == "pass"


def test_a_loss_from_near_zero_growing_while_the_reward_rises_also_left_its_reference(
        ) -> None:
    # fresh146 ledger_grpo_stopgrad_ok (mlx_llm_training 4a4e842): loss 0.0003 at step 1, 0.2%
    # of its largest report 0.152, reward 0.148 -> 0.75-1.0
    assert classify(run(grpo(0.00003, 0.01), "loss")).kind == "pass"


def test_a_loss_from_above_zero_or_a_flat_reward_still_explodes() -> None:
    assert classify(run(grpo(0.001, 0.01), "loss")).label == "diverged:exploding"
    assert classify(run(grpo(0.0, 0.0), "loss")).label == "diverged:exploding"


def test_a_surrogate_loss_near_zero_by_construction_while_the_rating_rises_passes() -> None:
    """fresh206 kiteschool_kitesize_grpo: a GRPO loss with normalised advantages, ~0 by
    construction, drifting 0.0022 -> 0.0147 as the policy leaves its reference, while the
    mean rating rose 0.18 -> 0.68."""
    loss = [0.0022, 0.0002, 0.0100, 0.0069, 0.0127, 0.0086, 0.0117, 0.0137, 0.0092, 0.0101,
            0.0114, 0.0147]
    rating = [0.176, 0.639, 0.610, 0.598, 0.618, 0.692, 0.660, 0.648, 0.651, 0.651, 0.673,
              0.684]
    rows = [{"loss": v, "mean_rating": r} for v, r in zip(loss, rating)]
    assert classify(run(rows, "loss")).kind == "pass"
    rows = [{"loss": v, "mean_rating": 0.18} for v in loss]  # no objective rose
    assert classify(run(rows, "loss")).label == "diverged:exploding"
