"""closure-value-and-grad: `mx.value_and_grad` over params the loss never uses: zero gradients.

Source: ../shared/seeds/003_a039be727e17cf61.txt, fix 4 "nn.value_and_grad Usage: Using
`mx.value_and_grad` doesn't work with Module objects properly", before:
`loss, grads = mx.value_and_grad(loss_fn)(trainable_params, batch)`; and its status line
"Gradients flowing: grad_norm = 886.13 (was 0.00!)". Tested: that this call gives exactly zero
gradients and no update, and why.
Bug: the loss takes `(params, batch)` but computes `model(x)`: it closes over the module and
never reads `params`. Symptom: grad_norm is exactly 0.00 at every step, the loss does not
fall, no error is raised. Root cause: `mx.value_and_grad` differentiates the function with
respect to its first argument; the output does not depend on those arrays (the module still
holds its own), so every gradient is an exact zero. Fix: `nn.value_and_grad(model, loss_fn)`,
which puts the traced trainable parameters into the module (`model.update`) before the call.

Optimizer: Adam (no decoupled weight decay), so that "no update" means no change at all. With
AdamW's default weight_decay=0.01 the parameters would still shrink by lr * 0.01 per step even
with zero gradients (measured: grad_norm 0.0, param_delta 1.46e-4 per step; see
frozen-backbone-grads).

Measured here (mlx 0.32.4, CPU, 2 cores, 2026-11-21), time-series model with frozen LM, batch
32, Adam lr 3e-3, 120 steps; the loop logs the real global gradient norm and `param_delta`,
the L2 norm of the trainable parameters' change in the step (`_loops`):
- broken: grad_norm 0.0 and param_delta 0.0 at all 120 steps; the loss wanders 1.38-1.92
  with the batches (1.81 at step 1, 1.82 at step 120). Its steps are the faster of the two
  (medians 3.3-3.7 ms vs 6.1-8.9 ms in the less loaded runs), consistent with no backward
  pass being computed at all.
- fixed: grad_norm 3.1 at step 1, 0.14-1.4 at the end; param_delta 0.45 -> ~0.06; loss 1.81
  -> 0.05 (window medians 1.41 -> 0.04); held-out loss 1.54 -> 0.040, accuracy 31% -> 100%.
Under mlxprobe (8 runs, identical numbers each time): broken -> no_update:grad_norm (120 of
120 steps exactly 0.0); fixed -> pass. Wall 0.8 / 1.1 s at load ~4, up to 3 / 4 s at load ~11.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

from ._loops import global_norm, param_delta, snapshot
from ._series_train import BATCH, LR, check_held_out, run_steps
from ._timeseries import (
    SeriesConfig,
    TimeSeriesModel,
    evaluate,
    loss_fn,
    make_timeseries_model,
    series_batches,
)

if TYPE_CHECKING:
    from mlxprobe.probe import Probe

SCENARIO = {
    "id": "closure-value-and-grad",
    "title": "mx.value_and_grad over params the loss closes over instead of using: zero grads",
    "source": ["003_a039be727e17cf61.txt"],
    "variants": {"broken": "no_update:grad_norm", "fixed": "pass"},
    "budget_s": 60,
}

STEPS = 120
CONFIG = SeriesConfig()


def _apply(model: TimeSeriesModel, optimizer: optim.Optimizer, loss: mx.array,
           grads: dict) -> dict[str, float]:
    """The update and what the loop logs: loss, the real grad norm, the parameters' change."""
    before = snapshot(model)
    optimizer.update(model, grads)
    mx.eval(loss, model.parameters(), optimizer.state)
    return {"loss": loss.item(), "grad_norm": global_norm(grads).item(),
            "param_delta": param_delta(before, model)}


def _data() -> Iterator[tuple[mx.array, mx.array]]:
    return series_batches(BATCH, CONFIG.channels, CONFIG.length, seed=1)


def broken(probe: Probe) -> None:
    model = make_timeseries_model(config=CONFIG)
    optimizer = optim.Adam(learning_rate=LR)

    def closure_loss(params: dict, batch: tuple[mx.array, mx.array]) -> mx.array:
        return loss_fn(model, *batch)  # BUG: `params` is never used; `model` is closed over

    def step(x: mx.array, y: mx.array) -> dict[str, float]:
        trainable_params = model.trainable_parameters()
        loss, grads = mx.value_and_grad(closure_loss)(trainable_params, (x, y))
        return _apply(model, optimizer, loss, grads)

    run_steps(probe, _data(), STEPS, step)


def fixed(probe: Probe) -> None:
    model = make_timeseries_model(config=CONFIG)
    before = evaluate(model, CONFIG)
    optimizer = optim.Adam(learning_rate=LR)
    loss_and_grad = nn.value_and_grad(model, loss_fn)  # the fix

    def step(x: mx.array, y: mx.array) -> dict[str, float]:
        loss, grads = loss_and_grad(model, x, y)
        return _apply(model, optimizer, loss, grads)

    run_steps(probe, _data(), STEPS, step)
    check_held_out(probe, model, before, CONFIG)
