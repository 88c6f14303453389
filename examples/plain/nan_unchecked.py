"""nan-unchecked as a plain script: one NaN reading reaches the optimizer unchecked.

broken: the batch of step 40 holds a series with a missing (NaN) reading; its gradients are
applied and every trainable weight is NaN from then on (the printed loss is nan). fixed: the
loss is checked before the update and the bad batch is skipped with a [WARN] line.
"""

import itertools
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from _common import Run
from mlxprobe_scenarios._loops import check_drop, params_finite
from mlxprobe_scenarios._timeseries import (
    SeriesConfig,
    evaluate,
    loss_fn,
    make_timeseries_model,
)
from mlxprobe_scenarios.nan_unchecked import LR, MAX_LOSS, MIN_VAL_DROP, STEPS, sensor_batches

run = Run(["broken", "fixed"], fmt="step", every=5, doc=__doc__)
check_loss = run.variant == "fixed"
config = SeriesConfig()
model = make_timeseries_model(seed=0, config=config)
optimizer = optim.AdamW(learning_rate=LR)
loss_and_grad = nn.value_and_grad(model, loss_fn)
before, _ = evaluate(model, config)
skipped = n = 0
for x, y in itertools.islice(sensor_batches(config), STEPS):
    loss, grads = loss_and_grad(model, x, y)
    value = loss.item()
    if check_loss and not (math.isfinite(value) and value <= MAX_LOSS):  # the fix
        skipped += 1
        print(f"[WARN] invalid loss {value}: batch skipped", flush=True)
        continue
    optimizer.update(model, grads)  # broken: every batch's gradients reach the optimizer
    mx.eval(model.parameters(), optimizer.state)
    n += 1
    run.step(n, value, params_finite=params_finite(model), hidden=("skipped",), skipped=skipped)
after, _ = evaluate(model, config)
print(f"held-out loss {before:.4f} -> {after:.4f}")
if check_loss:
    check_drop(run, "heldout_loss", before, after, MIN_VAL_DROP, skipped_batches=skipped)
