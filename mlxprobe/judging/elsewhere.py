"""Evidence that a run learns whatever its judged loss did: an accuracy that rose, another
loss that fell. The explosion rules (`diverged.exploding`, `diverged.spike`) stand down on it.

Job: a loss read by its name is not always the objective the program minimises. A summed
loss grows with the data it sums over (active learning adds labelled examples each round:
failure corpus fresh8 `correct_active_learning_rounds`, train_ce_sum 0.9 -> 22.6 while
test_acc rose 0.964 -> 0.996); a multi-task run prints each task's error, and the one it no
longer trains rises (fresh8 `correct_task_switch_ewc`: mse_A 0.003 -> 0.35 after the switch
to task B, mse_B 0.73 -> 0.003). A run that really diverges gets worse on every measure: its
updates are too large for all of them.

Thresholds and why:
- an accuracy-like metric (not a reward: an RL reward may rise while a value loss blows up)
  with >= MIN_REPORTS reports, its last third's median above its first report by >= ROSE
  (absolute, as a fraction: an accuracy often saturates within its first reports), its
  last value at or above its first, and its last value keeping at least KEPT (half) of its
  gain from the first report to its peak (fresh208 `splitvocab_caption`: 9.2% -> 59.3% ->
  21.3% while the loss blew up; a run that learns keeps what it learned);
- or, when the judged loss is an error measure picked by its name among several (no `loss`
  in its name: `mse_A` beside `mse_B`), another loss-like metric whose last third's median
  is below FELL x its first third's, or below FELL x its first report with its last report
  below that too (a validation error that converged within its first third: failure corpus
  fresh10 `correct_outlier_spikes_huber`, 1% gross target outliers: batch_mse 7e-3 on clean
  batches and 1e4-2e5 on 13 of 24 reports, while val_mae fell 1.96 -> 0.078 and stayed);
  beside a judged loss that has `loss` in its name, only an error against the truth (an
  rmse, mae, mse or error with no `loss` in its name) that fell below FAR x its start: a
  bootstrapped objective's loss grows with its own targets while the errors it is scored on
  fall (fresh244 `tollhouse_lantern_successor`, correct: td_loss 1.01 -> 1.52 as sr_rmse
  fell 0.586 -> 0.061).

- a loss whose first report is 0, or within REFERENCE_SHARE of the largest report after
  it, or whose first reports' median lies within their own spread of 0 (`in_noise`: a GRPO
  surrogate with normalised advantages, fresh206 `kiteschool_kitesize_grpo`, 0.0022, 0.0002,
  0.0100, while its mean rating rose 0.18 -> 0.68), while a reward (an objective: a reward,
  a return, a score, a rating) rose significantly
  (`program.rising_metric(significant=True)`: Mann-Kendall p < 0.05 over >= 10 reports; its
  last report above its first):
  a loss that starts at 0 is a penalty measured from a reference the policy starts at (the KL
  to a frozen copy of the initial policy, a DPO or GRPO loss at initialisation), and its
  growth is the policy leaving that reference while the reward says it learns (failure
  corpus fresh145 `handbell_peal_grpo_ok`, mlx-grpo e54e50a: loss -0.0 -> 0.012 as the KL
  grew, average reward 0.116 -> 0.41 over 30 reports, greedy accuracy 0.69; fresh146
  `ledger_grpo_stopgrad_ok`, mlx_llm_training 4a4e842: loss 0.0003 at step 1, 0.2% of its
  largest report 0.152, as kl grew 0.014 -> 6.8 and reward rose 0.148 -> 0.75-1.0, greedy
  accuracy 87.5%; an explosion starts from a loss that is a fair share of what it grows to).
  Only `diverged.exploding` stands down on it.

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import math

from .. import metric_names
from ..watching.facts import RawResult
from . import chance, metrics, program
from .stats import third_medians

MIN_REPORTS = 4
ROSE = 0.02
FELL = 0.5
FAR = 0.2  # beside a loss read by its name: an error against the truth that fell five-fold
TRUTH_ERRORS = frozenset({"rmse", "mae", "mse", "error", "err"})
KEPT = 0.5  # of an accuracy's gain to its peak, at its last report
REFERENCE_SHARE = 0.01  # a first loss report this near 0, against the largest after it


def thirds(values: list[float]) -> tuple[float, float] | None:
    """Medians of the first and the last third of the finite values (>= 1 value each)."""
    finite = [v for v in values if math.isfinite(v)]
    return third_medians(finite) if len(finite) >= MIN_REPORTS else None


def accuracy_rose(raw: RawResult) -> str | None:
    """The name of an accuracy that rose over the run, or None."""
    for name, values in chance.task_accuracies(raw).items():
        ends = thirds(values)
        if ends is None:
            continue
        if ends[1] - values[0] >= ROSE and values[-1] >= values[0] and kept(values):
            return name
    return None


def kept(values: list[float]) -> bool:
    """The last report keeps at least KEPT of the accuracy's gain from its first report to
    its peak: one that climbed and then fell back most of the way is collapsing with the
    loss, no sign that the run learns (fresh208 `splitvocab_caption`: caption accuracy 9.2%
    -> 59.3% -> 21.3% while the loss rose 3.88 -> 65,743)."""
    finite = [v for v in values if math.isfinite(v)]
    gain = max(finite) - finite[0]
    return gain <= 0 or finite[-1] - finite[0] >= KEPT * gain


def other_loss_fell(raw: RawResult, judged: str) -> str | None:
    """Another loss-like measure (a training or a held-out one) that fell by half, when the
    judged one has no `loss` in its name (an error measure chosen among several); beside one
    that has, an error against the truth that fell below FAR of its start; or None."""
    named_loss = "loss" in judged
    for name, points in metrics.series(raw).items():
        if name == judged or metric_names.role(name) != metric_names.LOSS:
            continue
        if named_loss and not truth_error(name):
            continue
        values = [v for _, v in points]
        ends = thirds(values)
        if ends is not None and halved(values, ends, FAR if named_loss else FELL):
            return name
    return None


def truth_error(name: str) -> bool:
    """A distance to the truth (`value_rmse`, `val_mae`, `sr_error`), no loss: what a
    bootstrapped objective's own loss cannot show. A temporal-difference loss is measured
    against targets the model itself makes, which grow as it learns (fresh244
    `tollhouse_lantern_successor`, correct: a successor-representation agent whose td_loss
    rose 1.01 -> 1.52 while its errors against the true SR and values fell 0.586 -> 0.061
    and 0.627 -> 0.058)."""
    words = set(metric_names.words(name))
    return "loss" not in words and not words.isdisjoint(TRUTH_ERRORS)


def halved(values: list[float], ends: tuple[float, float], share: float = FELL) -> bool:
    """The last third's median below `share` x the first third's, or below `share` x the
    first report while the last report is too (a measure that fell within its first third)."""
    if ends[0] > 0 and ends[1] < share * ends[0]:
        return True
    first, last = values[0], values[-1]
    return math.isfinite(first) and first > 0 and ends[1] < share * first \
        and math.isfinite(last) and last < share * first


def learning_elsewhere(raw: RawResult, judged: str) -> dict | None:
    """The evidence, or None."""
    rose = accuracy_rose(raw)
    if rose:
        return {"accuracy_rose": rose, "min_rise": ROSE}
    fell = other_loss_fell(raw, judged)
    return {"other_loss_fell": fell, "fell_below": FELL} if fell else None


def in_noise(losses: list[float]) -> bool:
    """The first reports' median lies within their own spread of 0: a surrogate that is ~0 by
    construction (fresh206 `kiteschool_kitesize_grpo`: a GRPO loss with normalised
    advantages, 0.0022, 0.0002, 0.0100 at its first three reports)."""
    head = losses[:max(MIN_REPORTS - 1, len(losses) // 10)]
    return abs(sorted(head)[len(head) // 2]) <= max(head) - min(head)


def left_reference(raw: RawResult, losses: list[float]) -> str | None:
    """The name of a reward that rose significantly while the loss, first reported at 0
    (or within REFERENCE_SHARE of its largest later report), grew from its reference; or
    None."""
    if len(losses) < 2 or (losses[0] != 0 and abs(losses[0]) > REFERENCE_SHARE * max(
            losses[1:]) and not in_noise(losses)):
        return None
    rewards = {n: p for n, p in metrics.series(raw).items() if metric_names.objective(n)
               and len(finite := [v for _, v in p if math.isfinite(v)]) > 1
               and finite[-1] > finite[0]}
    return program.rising_metric(rewards, significant=True)
