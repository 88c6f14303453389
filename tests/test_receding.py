"""A higher-is-better metric that recedes from its goal while the loss does not fall
(`judging.receding`), and the fix for a loss unbounded below (`hints.for_non_finite`)."""

from __future__ import annotations

from mlxprobe.judging import hints
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult

# fresh21 `grpo_bandit_ratio_flip`'s reports after the first (the ratio inverted)
GREEDY = [0.018, 0.02, 0.023, 0.014, 0.012, 0.011, 0.01, 0.009, 0.01, 0.012, 0.008, 0.009]
SAMPLED = [0.005, 0.0, 0.011, 0.033, 0.027, 0.004, 0.0, 0.009, 0.007, 0.01, 0.001, 0.019]
LOSS = [0.069, 0.082, 0.085, 0.086, 0.079, 0.088, 0.09, 0.084, 0.093, 0.087, 0.089, 0.091]


def run(losses: list[float], **metrics: list[float]) -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": 25 * (i + 1), "t": float(i),
                "loss": x, "metrics": {k: v[i] for k, v in metrics.items()}}
               for i, x in enumerate(losses)]
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_reward_that_recedes_while_the_loss_is_flat_is_not_learning():
    verdict = classify(run(LOSS, sampled_reward=SAMPLED, greedy_reward=GREEDY))
    assert verdict.label == "not_learning:receding", verdict.reason
    assert "greedy_reward" in verdict.reason and "ratio inverted" in verdict.hint


def test_its_fixed_twin_whose_reward_rises_passes():
    rising = [0.17 + 0.05 * i for i in range(12)]
    assert classify(run(LOSS, greedy_reward=rising)).kind == "pass"


def test_a_reward_that_recedes_while_another_rises_significantly_is_not_judged():
    rising = [0.1 + 0.02 * i for i in range(12)]
    assert classify(run(LOSS, greedy_reward=GREEDY, accuracy=rising)).kind == "pass"


def test_a_loss_that_falls_takes_the_verdict_from_a_receding_metric():
    falling = [1.0 - 0.07 * i for i in range(12)]
    assert classify(run(falling, greedy_reward=GREEDY)).kind == "pass"


def test_a_dip_that_comes_back_is_no_recession():
    dip = [0.5, 0.3, 0.2, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.5, 0.55]
    assert classify(run(LOSS, acc=dip)).kind == "pass"


def test_a_loss_that_falls_below_minus_its_start_before_nan_is_unbounded():
    """fresh21 `vae_mi_penalty_unbounded`: 3.97, -23.8, then NaN."""
    assert hints.for_non_finite([3.97, -23.76]) == hints.NAN_UNBOUNDED
    assert hints.for_non_finite([0.5, 3.0]) == hints.NAN_GROWTH
    assert hints.for_non_finite([-1.2, -1.1]) == hints.NAN_SUDDEN


# fresh138 `philately_scan_match`: three cycles of a curriculum whose scanner noise grows
# (0.2, 0.3, 0.4), the step counter back to 0 at each; top-1 (percent) as printed, no loss
TOP1 = [1.17, 21.09, 27.34, 35.55, 42.97, 45.31, 18.36, 14.06, 14.45, 19.92, 21.88, 21.48,
        8.59, 5.86, 6.64, 7.81, 10.94, 11.33]


def cycles(restarts: bool) -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": 40 * (i % 6), "t": float(i),
                "metrics": {"album_top1_pct": v},
                **({"restart": True} if restarts and i % 6 == 0 and i else {})}
               for i, v in enumerate(TOP1)]
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_metric_lowered_by_harder_stages_is_judged_in_the_last_stage_only():
    assert classify(cycles(restarts=True)).kind == "pass"  # 8.59 -> 11.33 in the last cycle
    assert classify(cycles(restarts=False)).label == "not_learning:receding"


def metrics_only(**metrics: list[float]) -> RawResult:
    """Reports with no metric named as a loss (`train 0.69 valid 0.25 (focal .. iou ..)`)."""
    count = len(next(iter(metrics.values())))
    records = [{"kind": "progress", "source": "output", "step": 50 * (i + 1), "t": float(i),
                "metrics": {k: v[i] for k, v in metrics.items()}} for i in range(count)]
    return RawResult(records=records, exit_code=0, watched=True)


# fresh265 `railhead_echo_fcos` as its stored run read it (its F1@0.5 column unread): `iou`
# is the IoU loss term of `valid`, and falls with it
IOU = [0.4828, 0.4828, 0.2012, 0.1427, 0.1175, 0.1079, 0.1045, 0.1005, 0.1, 0.0996]
VALID = [1.6166, 1.6166, 0.2483, 0.1772, 0.1489, 0.1384, 0.1342, 0.1294, 0.1288, 0.1285]


def test_a_score_named_metric_falling_with_the_unnamed_objective_is_not_judged():
    assert classify(metrics_only(iou=IOU, valid=VALID)).kind == "pass"


def test_with_no_loss_named_a_score_that_falls_alone_still_recedes():
    flat = [1.0 + 0.01 * (i % 3) for i in range(10)]
    assert classify(metrics_only(iou=IOU, valid=flat)).label == "not_learning:receding"
