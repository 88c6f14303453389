"""Stop 86's changes to the verdict rules, on the shapes of the runs that showed each:
- MLX's active memory that rose only by whole copies of the model's weights, kept at spaced
  steps, is no leak (`judging.kept_copies`; fresh303 `pipeorgan_voicing_swa_snapshots`,
  correct: SWA keeps one copy of a 76,417-value float32 model per epoch, +305,668 bytes at 7
  steps 156 apart, was called `leak:mx_active`). A copy kept every few steps, rises that are
  no whole copy, or a run with no census of its weights, stay a leak.
- a run whose last loss report is non-finite went past it when every non-finite loss has a
  name of its own and another loss name stayed finite after it, >= 3 times (fresh320
  `retort_carbonyield_autoclip`, correct: each epoch's TOML block ends with
  `last_skipped_loss = "nan"` after a finite, falling `train_mse_std`, was called
  `diverged:non_finite`); one loss name that ends non-finite, or a non-finite report long
  after the other name's last (stop 77's `guarded(ends_on_nan=True)`), stays `diverged`.
- a stalled program computes by a runnable thread only beside >= 0.05 cores: a sleeping child
  under the full suite's load read 0.001 cores with a thread runnable in 55% of the samples
  (`hang:cpu_busy`, the first full CI run but one), while a starved computation still ran
  0.44 cores.

Cost: < 1 s (facts in memory, no process).
"""

from __future__ import annotations

from collections.abc import Callable

from test_stop84_rules import parsed

from mlxprobe.judging.verdict import classify
from mlxprobe.watching.evaluation import computing
from mlxprobe.watching.facts import RawResult

COPY = 305_668  # 76,417 float32 values
BASE = 1_663_216
STEPS = 1558
CENSUS = [{"model": "Voicer", "trainable_matrices": 4, "trainable_values": 76417,
           "trainable_dtypes": {"float32": 76417}}]


def every_epoch(step: int) -> int:
    """As measured: one more copy at steps 617, 773, ..., 1553 (156 apart), and a one-copy
    transient every 5 steps, freed at the next."""
    kept = sum(1 for s in range(617, STEPS + 1, 156) if step >= s)
    return BASE + kept * COPY + (COPY if step % 5 == 2 else 0)


def run(active: Callable[[int], int] = every_epoch, census: bool = True) -> RawResult:
    beats = [{"kind": "step", "step": s, "t": 0.01 * s, "source": "eval",
              "memory": {"mx_active": active(s), "mx_peak": active(s) + COPY}}
             for s in range(1, STEPS + 1)]
    looks = [{"kind": "params", "step": 33, "t": 0.33 + 0.001, "updates": 6, "look": 2,
              **({"census": CENSUS} if census else {})}]
    return RawResult(records=sorted(beats + looks, key=lambda r: r["t"]), exit_code=0,
                     watched=True)


def test_weight_copies_kept_once_an_epoch_are_no_leak() -> None:
    verdict = classify(run())
    assert verdict.kind == "pass", verdict.reason
    kept = verdict.evidence["memory_views"]["mx_active"]["kept_copies"]
    # the seventh copy, 5 steps before the end, has no later look to be seen kept at
    assert kept["copy_bytes"] == COPY and len(kept["rises_at"]) == 6
    assert kept["rises_at"][0] == 617


def test_a_copy_kept_every_ten_steps_is_a_leak() -> None:
    verdict = classify(run(lambda s: BASE + (s // 10) * COPY // 8))
    assert verdict.kind == "leak"
    assert classify(run(lambda s: BASE + (s // 10) * COPY)).kind == "leak"


def test_rises_that_are_no_whole_copy_or_no_census_stay_a_leak() -> None:
    assert classify(run(lambda s: every_epoch(s) + (s >= 700) * COPY // 2)).kind == "leak"
    assert classify(run(census=False)).kind == "leak"


def toml_epochs(skipped_name: str) -> str:
    """As the program printed: one TOML block an epoch, its train loss falling, then the
    loss of the batch its guard left out."""
    blocks = [f"[[epoch]]\nn = {e}\ntrain_mse_std = {0.25 * 0.8 ** e:.6f}\n"
              f"valid_rmse_pct = {0.64 - 0.002 * e:.6f}\n{skipped_name} = \"nan\"\n"
              for e in range(1, 13)]
    return "\n".join(blocks)


def test_a_skipped_batchs_nan_printed_after_a_falling_loss_is_no_divergence() -> None:
    verdict = classify(parsed(toml_epochs("last_skipped_loss")))
    assert verdict.kind == "pass", verdict.reason


def test_a_loss_of_one_name_that_ends_non_finite_is_diverged() -> None:
    text = "\n".join(f"epoch {e} train_loss {0.25 * 0.8 ** e if e < 6 else 'nan'}"
                      for e in range(1, 13))
    assert classify(parsed(text)).kind == "diverged"


def test_a_runnable_thread_with_no_cpu_is_no_computation() -> None:
    assert not computing(0.001, 0.55)
    assert computing(0.44, 0.9) and computing(0.6, 0.0)
    assert not computing(0.3, 0.2)
