"""Hints for a run that does not learn or goes non-finite, from its metrics (`judging.stalls`,
`judging.policy`): a loss identically zero, a rate at its floor, a policy-gradient run. The verdict
stays what the rules give; only its fix text speaks of rewards, advantages and the ratio.
Records shaped as a watched program's output lines give them (plain Python, < 0.1 s)."""

from __future__ import annotations

import math
import random

from mlxprobe.judging import hints, policy, stalls
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
    above_chance = [a + 0.3 for a in chance(16, 2)]  # 0.4: above a uniform guess's 0.1
    verdict = classify(run(losses, accuracy=above_chance))
    assert verdict.label == "not_learning:trend" and verdict.hint == hints.NOT_LEARNING
    at_chance = classify(run(losses, accuracy=chance(16, 2)))  # exp(-2.3) = 0.100
    assert at_chance.label == "not_learning:chance" and "policy" not in at_chance.hint


def test_a_policy_gradient_run_with_zero_gradients_gets_the_policy_checks() -> None:
    verdict = classify(run([0.1, -0.2] * 6, reward=chance(12, 4), grad_norm=[0.0] * 12))
    assert verdict.label == "no_update:grad_norm"
    assert verdict.hint.startswith("no parameter changed in a policy-gradient run")
    assert classify(run([0.5] * 12, grad_norm=[0.0] * 12)).hint == hints.NO_UPDATE


def test_a_policy_gradient_nan_names_the_group_std() -> None:
    losses = [-0.1, -0.4] + [float("nan")] * 14
    verdict = classify(run(losses, reward=[0.6, 0.7] + [0.59] * 14))
    assert verdict.label == "diverged:non_finite"
    assert "std" in verdict.hint and "(std + 1e-4)" in verdict.hint


def test_a_supervised_nan_keeps_the_loss_hint() -> None:
    verdict = classify(run([1.0, 0.9] + [float("nan")] * 14, acc=[0.5] * 16))
    assert verdict.label == "diverged:non_finite" and verdict.hint == hints.NAN_SUDDEN


def test_a_flat_run_whose_rate_sat_at_its_floor_names_the_schedule() -> None:
    # mlx-examples issue 985's shape: decay_steps in epochs, lr 1e-7 from the second report
    losses = [0.55, 0.59, 0.51] * 8
    verdict = classify(run(losses, learning_rate=[5e-2] + [1e-7] * 23))
    assert verdict.label == "not_learning:trend"
    assert verdict.hint.startswith("the learning rate was at most 1e-07 at 23 of 24 reports")
    assert "decay_steps" in verdict.hint


def test_a_cosine_decay_to_its_end_is_no_tiny_rate() -> None:
    rates = [0.5 * 1e-2 * (1 + math.cos(math.pi * i / 99)) + 1e-5 for i in range(100)]
    assert stalls.tiny_rate(rates) is None
    assert stalls.tiny_rate([1e-5] * 20) is None  # a constant small rate: a slow fine-tune


def test_a_loss_that_never_changes_points_at_saturated_units() -> None:
    verdict = classify(run([2.3026] * 12, accuracy=[0.113] * 12))
    assert verdict.label == "not_learning:trend"
    assert verdict.hint.startswith("the loss was 2.3026 at every one of 12 reports")


def test_reward_names() -> None:
    assert policy.reward_name({"loss_kl": [], "rewards_mean": []}) == "rewards_mean"
    assert policy.reward_name({"acc": [], "rewardless": [], "adv_std": []}) == "adv_std"
    assert policy.reward_name({"accuracy": [], "score": []}) is None


def test_an_actor_critic_nan_names_the_squash_correction() -> None:
    records = run([float("nan")] * 12, mean_action=[0.5] * 12).records
    for record in records:
        record["loss_name"] = "actor_loss"
    verdict = classify(RawResult(records=records, exit_code=0, watched=True))
    assert verdict.label == "diverged:non_finite"
    assert verdict.hint.startswith("an actor-critic run (it reports `actor_loss`)")
    assert "nn.softplus(-2 * u)" in verdict.hint
    assert policy.non_finite_hint({"actor_loss": [], "reward": []}).startswith("an actor")
    assert policy.non_finite_hint({"reactor_temp": []}) is None


def look(t: float, changed: bool, nonfinite: bool = False) -> dict:
    return {"kind": "params", "step": int(t * 10), "updates": int(t * 10), "leaves": 2,
            "compared": 2, "changed": 2 if changed else 0, "unchanged": [],
            "nonfinite": ["net"] if nonfinite else [], "t": t}


def test_a_nan_in_the_loss_value_only_is_told_by_parameters_that_train_on() -> None:
    reward = [round(0.3 + 0.04 * i, 2) for i in range(16)]
    losses = [float("nan")] * 16  # reports at t = 0 .. 15
    trained = run(losses, reward=reward)
    trained.records += [look(t + 0.5, True) for t in range(4)]
    verdict = classify(trained)
    assert verdict.label == "diverged:non_finite"
    assert verdict.hint.startswith(hints.NAN_VALUE_ONLY) and "std + 1e-4" in verdict.hint
    two_looks = run(losses, reward=reward)  # too few looks after the first NaN report
    two_looks.records += [look(t + 0.5, True) for t in range(2)]
    went_nan = run(losses, reward=reward)  # the NaN reached the parameters
    went_nan.records += [look(t + 0.5, True, nonfinite=t == 3) for t in range(4)]
    for raw in (two_looks, went_nan):
        assert not classify(raw).hint.startswith(hints.NAN_VALUE_ONLY)


def test_zero_advantages_while_the_accuracy_is_low_is_not_learning() -> None:
    losses = [-0.0003] + [0.0] * 15
    low = classify(run(losses, reward=[0.17] + [0.1] * 15, greedy_acc=chance(16, 5)))
    assert low.label == "not_learning:zero_advantage"
    assert "mx.random.state" in low.hint and low.evidence["zero_reports"] == 15
    solved = classify(run(losses, reward=[1.0] * 16, greedy_acc=[1.0] * 16))
    rose = classify(run(losses, reward=[0.1 + 0.06 * i for i in range(16)],
                        greedy_acc=chance(16, 5)))
    no_accuracy = classify(run(losses, reward=[0.17] + [0.1] * 15))
    moving = classify(run([0.01 * (-1) ** i for i in range(16)], reward=[0.1] * 16,
                          greedy_acc=chance(16, 5)))
    for verdict in (solved, rose, no_accuracy, moving):
        assert verdict.label != "not_learning:zero_advantage"
