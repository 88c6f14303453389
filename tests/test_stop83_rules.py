"""Stop 83's changes to the verdict rules, on the texts of the runs that showed each:
- two reports after the last update that print one whole-number setting with two values are
  two settings of an evaluation, not one model degraded (fresh299 `beadwire_chain_relay`,
  correct: `final 20-step rollout mse 8.02e-06 ...`, then `final 80-step rollout mse 8.83e-05
  ...`, read as `wrong_result:degraded`);
- a stage that trains vectors alone on frozen weight matrices stands down `no_update:
  frozen_weights` when it picks up where training left off (fresh292
  `teaestate_flush_ordinal_half`, fresh301 `leafroll_row_lsepool`, both correct);
- a Markdown table row's closing bar does not make it a cell longer than its header
  (fresh301 `leafroll_row_lsepool`: its rows were read headerless);
- a binary classifier whose loss fell from above ln 2 to ln 2 while its accuracy held one
  value (one class predicted) is at chance (fresh301 `drumlin_voxel_sumpool`, passed).

Cost: < 1 s (texts in memory, no process).
"""

from __future__ import annotations

from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult
from mlxprobe.watching.output import ProgressParser

TRAINING = """iter   100  lr 1.72e-03  accel loss 0.1580
iter   200  lr 1.02e-03  accel loss 0.0954
iter   300  lr 3.15e-04  accel loss 0.0945
iter   400  lr 2.00e-05  accel loss 0.0945"""
HORIZONS = """final 20-step rollout mse 8.02e-06  const-velocity 5.28e-03  at-rest 4.26e-03
final 80-step rollout mse 8.83e-05  const-velocity 4.96e-02  at-rest 1.85e-02"""
REPEATED = """final 20-step rollout mse 8.02e-06  const-velocity 5.28e-03  at-rest 4.26e-03
final 20-step rollout mse 8.83e-05  const-velocity 5.28e-03  at-rest 4.26e-03"""


def rollouts(closing: str) -> RawResult:
    """400 updates with four training reports, then two rollout reports after the last."""
    parser = ProgressParser()
    updates = [{"kind": "step", "source": "update", "step": i + 1, "t": i * 0.01}
               for i in range(400)]
    lines = TRAINING.splitlines() + closing.splitlines()
    reports = [{**parser.parse(line), "t": 1.0 + i} for i, line in enumerate(lines)]
    return RawResult(records=updates + reports, exit_code=0, watched=True)


def test_two_horizons_of_one_rollout_are_two_settings() -> None:
    """fresh299 `beadwire_chain_relay` (correct): the 80-step rollout errs 10x the 20-step."""
    assert classify(rollouts(HORIZONS)).label == "pass"


def test_the_same_horizon_read_10x_worse_is_the_model_degraded() -> None:
    verdict = classify(rollouts(REPEATED))
    assert verdict.label == "wrong_result:degraded"
    assert verdict.evidence["metric"] == "mse"


TRAINED = {"model": "Grader", "trainable_matrices": 3, "trainable_values": 4800,
           "frozen_matrices": 0, "frozen_quantized": 0}
FROZEN = {**TRAINED, "trainable_matrices": 0, "trainable_values": 4, "frozen_matrices": 3}


def moved(leaves: int, matrices: int) -> dict:
    """A look that saw every trainable leaf change."""
    return {"leaves": leaves, "compared": leaves, "changed": leaves, "unchanged": [],
            "unchanged_count": 0, "nonfinite": [], "moved": leaves, "shrunk": [],
            "matrices": [matrices, matrices], "vectors": [leaves - matrices] * 2}


ORDINAL = [1.398, 1.31, 1.22, 1.12, 1.05, 0.99, 0.95, 0.921]
PRETRAIN = [0.1906, 0.1756, 0.2624, 0.0972, 0.0576, 0.0993, 0.0871, 0.0993]


def staged(first: list[float], second: list[float]) -> RawResult:
    """Stage 1 trains three matrices (eight reports of `first`, looks every 0.25 s see them
    move); stage 2 freezes them and trains 4 values; its first two reports come before the
    census that finds the freeze (looks are at most four a second), as in fresh10's run."""
    steps = [{"kind": "step", "source": "update", "step": s, "t": 0.01 * s}
             for s in range(1, 601)]
    reports = [{"kind": "progress", "source": "output", "step": 50 * (i + 1),
                "t": 0.5 * (i + 1), "loss": v} for i, v in enumerate(first)]
    reports += [{"kind": "progress", "source": "output", "step": 25 * (i + 1),
                 "t": 4.1 + 0.2 * i, "loss": v, **({"restart": True} if i == 0 else {})}
                for i, v in enumerate(second)]
    looks = [{"kind": "params", "step": 1, "updates": 1, "t": 0.0, "leaves": 8,
              "compared": 0, "census": [TRAINED]}]
    looks += [{"kind": "params", "step": 25 * i, "updates": 25 * i, "t": 0.25 * i,
               **moved(8, matrices=3)} for i in range(1, 17)]
    looks += [{"kind": "params", "step": 470, "updates": 470, "t": 4.45, "leaves": 4,
               "compared": 0, "census": [FROZEN]}]
    looks += [{"kind": "params", "step": 470 + 25 * i, "updates": 470 + 25 * i,
               "t": 4.45 + 0.25 * i, **moved(4, matrices=0)} for i in range(1, 4)]
    return RawResult(records=steps + reports + looks, exit_code=0, watched=True)


def test_a_last_stage_that_picks_up_where_training_left_off_is_deliberate() -> None:
    """fresh292 `teaestate_flush_ordinal_half` (correct): cut-points refit on a frozen
    trunk, train nll 0.921 at the end of stage 1, then 0.943, 0.928, 0.921."""
    assert classify(staged(ORDINAL, [0.943, 0.928, 0.921, 0.925, 0.92, 0.919])).label == "pass"


def test_a_last_stage_that_starts_at_a_new_tasks_untrained_level_is_frozen_weights() -> None:
    """fresh10 `b10_unfreeze_submodule_key`: the probe's loss 1.47 after 0.0993, every
    matrix frozen by an unfreeze whose key missed."""
    verdict = classify(staged(PRETRAIN, [1.4731, 1.5424, 1.4261, 1.394, 1.4953, 1.3324]))
    assert verdict.label == "no_update:frozen_weights"


MARKDOWN = """| stage | step | pool | batch_bce | val_bce | val_row_acc | sharpness |
|---|---|---|---|---|---|---|
| A | 100 | lse | 0.4991 | 0.5341 | 77.0% | 0.84 |
| A | 100 | mean | 0.6465 | 0.6780 | 60.5% | - |"""


def test_a_markdown_row_with_words_under_label_columns_is_read_by_its_header() -> None:
    """fresh301 `leafroll_row_lsepool` (correct): each row's closing bar made it one cell
    longer than its header, so it was read headerless (`a 100`, `lse 0.4991`)."""
    parser = ProgressParser()
    rows = [r for r in map(parser.parse, MARKDOWN.splitlines()) if r]
    assert [(r["step"], r["loss_name"], r["loss"]) for r in rows] == [
        (100, "batch_bce", 0.4991), (100, "batch_bce", 0.6465)]
    assert rows[0]["metrics"]["val_bce"] == 0.5341 and "a" not in rows[0]["metrics"]


def binary_run(accuracies: list[float]) -> RawResult:
    """Six epochs of a binary classifier: loss 0.715, then at ln 2, and a val_acc each."""
    losses = [0.7149, 0.6942, 0.6926, 0.6926, 0.6927, 0.6932]
    steps = [{"kind": "step", "source": "update", "step": s, "t": 0.01 * s}
             for s in range(1, 601)]
    reports = [{"kind": "progress", "source": "output", "step": i + 1, "t": 1.0 * (i + 1),
                "loss": loss, "metrics": {"val_acc": acc}}
               for i, (loss, acc) in enumerate(zip(losses, accuracies))]
    return RawResult(records=steps + reports, exit_code=0, watched=True)


def test_a_binary_model_fallen_to_ln2_that_predicts_one_class_is_at_chance() -> None:
    """fresh301 `drumlin_voxel_sumpool` (mlx-lattice 9296aa1: a sum pool mixing every
    channel): val_acc 0.458 at each of the last five epochs."""
    verdict = classify(binary_run([0.542, 0.458, 0.458, 0.458, 0.458, 0.458]))
    assert verdict.label == "not_learning:chance"


def test_one_whose_accuracy_moves_is_left_alone() -> None:
    """Labels with 45% noise: the loss falls from above ln 2 to just under it, the accuracy
    moves (0.55-0.6)."""
    assert classify(binary_run([0.52, 0.55, 0.57, 0.56, 0.58, 0.57])).label == "pass"
