"""Hints for a policy-gradient run and a loss identically zero (`judging.policy`): the verdict
stays what the rules give; only its fix text speaks of rewards, advantages and the ratio.
Records shaped as a watched program's output lines give them (plain Python, < 0.1 s)."""

from __future__ import annotations

import random

from mlxprobe.judging import hints, policy
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult


def run(losses: list, **metrics: list) -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": 10 * (i + 1), "loss": v,
                "t": float(i), "metrics": {k: m[i] for k, m in metrics.items()}}
               for i, v in enumerate(losses)]
    return RawResult(records=records, exit_code=0, watched=True)


def chance(n: int, seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    return [round(0.1 + rng.uniform(-0.05, 0.05), 3) for _ in range(n)]


def test_a_flat_policy_gradient_run_speaks_of_reward_advantage_and_ratio() -> None:
    verdict = classify(run([0.0, -0.0] * 8, reward=chance(16)))
    assert verdict.label == "not_learning:trend"
    assert verdict.hint.startswith("the loss was exactly 0 at all 16 reports")
    assert "reward never fires" in verdict.hint and "importance ratio" in verdict.hint


def test_a_flat_reward_run_with_a_moving_loss_gets_the_policy_checks() -> None:
    losses = [round(0.5 + 0.01 * ((-1) ** i), 3) for i in range(16)]
    verdict = classify(run(losses, avg_reward=chance(16, 1)))
    assert verdict.label == "not_learning:trend"
    assert verdict.hint.startswith("a policy-gradient run (it reports `avg_reward`)")


def test_a_flat_supervised_run_keeps_the_plain_hint() -> None:
    losses = [round(2.3 + 0.01 * ((-1) ** i), 3) for i in range(16)]
    verdict = classify(run(losses, accuracy=chance(16, 2)))
    assert verdict.label == "not_learning:trend" and verdict.hint == hints.NOT_LEARNING


def test_a_policy_gradient_nan_names_the_group_std() -> None:
    losses = [-0.1, -0.4] + [float("nan")] * 14
    verdict = classify(run(losses, reward=[0.6, 0.7] + [0.59] * 14))
    assert verdict.label == "diverged:non_finite"
    assert "std" in verdict.hint and "(std + 1e-4)" in verdict.hint


def test_a_supervised_nan_keeps_the_loss_hint() -> None:
    verdict = classify(run([1.0, 0.9] + [float("nan")] * 14, acc=[0.5] * 16))
    assert verdict.label == "diverged:non_finite" and verdict.hint == hints.NAN_SUDDEN


def test_reward_names_and_zero_losses() -> None:
    assert policy.reward_name({"loss_kl": [], "rewards_mean": []}) == "rewards_mean"
    assert policy.reward_name({"acc": [], "rewardless": [], "adv_std": []}) == "adv_std"
    assert policy.reward_name({"accuracy": [], "score": []}) is None
    assert policy.all_zero([0.0, -0.0] * 5) and not policy.all_zero([0.0] * 9)
    assert not policy.all_zero([0.0] * 9 + [1e-4])
