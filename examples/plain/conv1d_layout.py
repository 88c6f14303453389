"""conv1d-layout as a plain script: PyTorch-layout (N, C, L) batches fed to MLX's NLC Conv1d.

broken: 3 channels x 24 steps fed NCL: ValueError at the first step. broken_square: 16 x 16
fed NCL: no error, the loss falls, but the conv runs along the wrong axis (only a check
against a NumPy reference sees it). fixed: `x.transpose(0, 2, 1)` first.
"""

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from _common import Run
from mlxprobe_scenarios._series_train import BATCH, LR, check_held_out
from mlxprobe_scenarios._timeseries import (
    SeriesConfig,
    evaluate,
    loss_fn,
    make_timeseries_model,
    series_batches,
)
from mlxprobe_scenarios.conv1d_layout import SQUARE, STEPS
from mlxprobe_scenarios.conv1d_layout import _check_conv as check_first_conv

run = Run(["broken", "broken_square", "fixed"], fmt="step", every=5, doc=__doc__)
config = SeriesConfig() if run.variant == "broken" else SQUARE
if run.variant == "fixed":
    def prepare(x):
        return x.transpose(0, 2, 1)  # the fix: (batch, length, channels)
else:
    def prepare(x):
        return x  # BUG: the (batch, channels, length) batch goes in as it is

model = make_timeseries_model(config=config)
before = evaluate(model, config) if run.variant == "fixed" else None
optimizer = optim.AdamW(learning_rate=LR)
loss_and_grad = nn.value_and_grad(model, loss_fn)
data = series_batches(BATCH, config.channels, config.length, seed=1, layout="NCL")
for n, (x, y) in zip(range(1, STEPS + 1), data):
    loss, grads = loss_and_grad(model, prepare(x), y)
    optimizer.update(model, grads)
    mx.eval(loss, model.parameters(), optimizer.state)
    run.step(n, loss.item())
check_first_conv(run, model, config, prepare)
if before is not None:
    check_held_out(run, model, before, config)
