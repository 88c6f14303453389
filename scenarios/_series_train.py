"""Shared loop driver and measurements for the time-series scenarios.

Job: the pieces that conv1d-layout, closure-value-and-grad, custom-trainable-parameters and
frozen-backbone-grads share: a driver that runs a scenario's own step function once per batch
(one `probe.step` each, timed) and the checks they make (held-out loss fell, via
`_loops.check_drop`; frozen weights bit-identical). The steps themselves, where the bugs live,
stay in the scenario modules.

May import mlx, numpy and the standard library only (never `mlxprobe.runner` or other
parent-side modules): it runs inside scenario child processes. (`mlxprobe.probe` is imported
for typing.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import mlx.core as mx
from mlx.utils import tree_flatten

from ._loops import check_drop
from ._timeseries import SeriesConfig, TimeSeriesModel, evaluate

if TYPE_CHECKING:
    from mlxprobe.probe import Probe

BATCH = 32
LR = 3e-3
# Measured with the correct loop (see _timeseries): held-out loss 1.54 -> 0.02 in 200 steps
# (-99%); a loop that does not learn stays near its start (ln 4 = 1.39 for chance).
MIN_HELD_OUT_DROP = 0.5

Step = Callable[[mx.array, mx.array], dict[str, float]]


def run_steps(
    probe: Probe, data: Iterator[tuple[mx.array, mx.array]], steps: int, step: Step
) -> list[float]:
    """Call `step(x, y)` on `steps` batches, `probe.step(**metrics)` after each; its seconds."""
    seconds = []
    probe.reset_clock()
    for _, (x, y) in zip(range(steps), data):
        start = time.perf_counter()
        metrics = step(x, y)
        seconds.append(time.perf_counter() - start)
        probe.step(**metrics)
    return seconds


def check_held_out(
    probe: Probe, model: TimeSeriesModel, before: tuple[float, float],
    config: SeriesConfig | None = None,
) -> None:
    """The true metric: held-out loss (`_timeseries.evaluate`) fell by a clear margin."""
    loss, accuracy = evaluate(model, config)
    check_drop(probe, "held_out_loss", before[0], loss, MIN_HELD_OUT_DROP,
               hint="the loop does not train the model", accuracy_before=before[1],
               accuracy_after=accuracy)


def check_frozen(probe: Probe, before: dict, after: dict, hint: str, **evidence: object) -> None:
    """The frozen LM's weights must be bit-identical after training."""
    old = dict(tree_flatten(before))
    diffs = [mx.max(mx.abs(new - old[key])) for key, new in tree_flatten(after)]
    change = mx.max(mx.stack(diffs)).item()
    probe.check("frozen LM weights bit-identical after training", change == 0.0, hint=hint,
                llm_max_abs_change=change, **evidence)
