"""Rule unit: a policy-gradient run whose advantages are all zero while the task is unsolved.

Job: a group-relative policy gradient (GRPO, RLOO) scales each completion's log-prob
gradient by its reward minus its group's mean; its loss is exactly 0 when every completion
of every group got the same reward. Once a policy solves its task that is normal (every
reward is the best one); while an accuracy it reports sits far below its ceiling, it means
the completions of a group do not differ: a sampler that replays one random draw (a sampler
under `mx.compile` without `mx.random.state` among its inputs and outputs captures the key
at trace time), greedy decoding, or a reward that never separates them. Nothing is learned:
the gradient is 0 up to round-off, which Adam still turns into small moves, so the
parameter looks do not call it `no_update`.

Thresholds and why: a reward-like metric (`policy.reward_name`), the loss exactly 0 at >=
ZERO_SHARE of >= program.TREND_MIN_POINTS finite reports (a normalised surrogate is ~0 but
never exactly 0 at most reports while the rewards of a group differ), no higher-is-better
metric rose (`program.rising_metric`), and an accuracy (a fraction or a percentage scaled)
whose last third's median is at most MAX_ACCURACY (a solved task's accuracy is ~1; a run
that prints no accuracy is not judged: its reward's ceiling is unknown). Measured (failure
corpus fresh28 `grpo_compiled_sampler_frozen_key`, mlx-node's compiled sampler): loss 0.0 at
15 of 16 reports, reward 0.10 and greedy_acc 0.12-0.13 for 1500 steps; its fixed twin
(sampler not compiled): reward 0.158 -> 1.0, loss 0 only after the task was solved
(greedy_acc 1.0).

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import math
import statistics

from ..watching.facts import RawResult
from . import chance, metrics, policy, program
from .rule import Rule, Verdict

ZERO_SHARE = 0.9
MAX_ACCURACY = 0.9
HINT = (
    "every advantage was 0: the completions of each group got the same reward, so the "
    "policy gradient is 0 while the task is unsolved. Check that the completions of a group "
    "differ: a sampler under `mx.compile` replays the random key it captured at trace time "
    "unless `mx.random.state` is among its inputs and outputs "
    "(`mx.compile(sample, inputs=mx.random.state, outputs=mx.random.state)`, or do not "
    "compile the sampler); greedy decoding (argmax, temperature 0) gives one completion per "
    "prompt; a seed reset before each sample (`mx.random.seed(...)` inside the loop) draws "
    "the same one; then that the reward separates right from wrong (call it by hand on a few "
    "outputs)")


def unsolved(raw: RawResult) -> tuple[str, float] | None:
    """The first accuracy (not a reward: its ceiling is unknown) whose last third's median
    is <= MAX_ACCURACY, with that median."""
    for name, values in chance.task_accuracies(raw).items():
        finite = [v for v in values if math.isfinite(v)]
        if len(finite) >= program.TREND_MIN_POINTS:
            median = statistics.median(program.last_third(finite))
            if median <= MAX_ACCURACY:
                return name, median
    return None


def zero_share(losses: list[float]) -> tuple[int, int]:
    """(reports exactly 0, finite reports)."""
    finite = [v for v in losses if math.isfinite(v)]
    return sum(v == 0 for v in finite), len(finite)


def zeroed(raw: RawResult) -> dict | None:
    """The reward's name and the zero count when the loss is exactly 0 at >= ZERO_SHARE of
    >= TREND_MIN_POINTS reports of a reward run in which nothing rose; else None."""
    series = metrics.series(raw)
    reward = policy.reward_name(series)
    zeros, n = zero_share(program.losses(raw))
    if reward is None or n < program.TREND_MIN_POINTS or zeros < ZERO_SHARE * n \
            or program.rising_metric(series):
        return None
    return {"zero_reports": zeros, "reports": n, "zero_share": ZERO_SHARE, "reward": reward}


def zero_advantage(raw: RawResult, meta: dict) -> Verdict | None:
    found, low = zeroed(raw), unsolved(raw)
    if found is None or low is None:
        return None
    evidence = {**found, "accuracy": low[0], "accuracy_last_third": low[1],
                "max_accuracy": MAX_ACCURACY}
    return Verdict("not_learning", "zero_advantage", f"the policy-gradient loss was exactly 0 "
                   f"at {found['zero_reports']} of {found['reports']} reports while {low[0]} "
                   f"stayed at {low[1]:.3g} (last third) and no reward or accuracy rose: every "
                   "advantage was 0", HINT, evidence)

RULES = (
    Rule("not_learning.zero_advantage", "metrics", f"a run reporting a reward: the loss "
         f"exactly 0 at >= {ZERO_SHARE:.0%} of >= {program.TREND_MIN_POINTS} reports, no "
         f"reward or accuracy rose, and an accuracy's last third at most {MAX_ACCURACY:g}",
         "failure corpus: fresh28 grpo_compiled_sampler_frozen_key (mlx-node: a compiled "
         "sampler replays its random key)", zero_advantage),
)
