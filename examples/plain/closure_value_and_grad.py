"""closure-value-and-grad as a plain script: `mx.value_and_grad` over params the loss ignores.

broken: the loss closes over the module instead of using the `params` it is given, so every
gradient is exactly zero and nothing trains (the log shows grad_norm 0 and param_delta 0).
fixed: `nn.value_and_grad(model, loss_fn)`.
"""

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from _common import Run
from mlxprobe_scenarios._loops import global_norm, param_delta, snapshot
from mlxprobe_scenarios._series_train import BATCH, LR, check_held_out
from mlxprobe_scenarios._timeseries import (
    SeriesConfig,
    evaluate,
    loss_fn,
    make_timeseries_model,
    series_batches,
)
from mlxprobe_scenarios.closure_value_and_grad import STEPS

run = Run(["broken", "fixed"], fmt="bar", every=5, doc=__doc__)
config = SeriesConfig()
model = make_timeseries_model(config=config)
before = evaluate(model, config) if run.variant == "fixed" else None
optimizer = optim.Adam(learning_rate=LR)

if run.variant == "broken":
    def closure_loss(params, batch):
        return loss_fn(model, *batch)  # BUG: `params` is never used; `model` is closed over

    def loss_and_grad(x, y):
        return mx.value_and_grad(closure_loss)(model.trainable_parameters(), (x, y))
else:
    value_and_grad = nn.value_and_grad(model, loss_fn)  # the fix

    def loss_and_grad(x, y):
        return value_and_grad(model, x, y)

data = series_batches(BATCH, config.channels, config.length, seed=1)
for n, (x, y) in zip(range(1, STEPS + 1), data):
    loss, grads = loss_and_grad(x, y)
    previous = snapshot(model)
    optimizer.update(model, grads)
    mx.eval(loss, model.parameters(), optimizer.state)
    run.step(n, loss.item(), grad_norm=global_norm(grads).item(),
             param_delta=param_delta(previous, model))
if before is not None:
    check_held_out(run, model, before, config)
