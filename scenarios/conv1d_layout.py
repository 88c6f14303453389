"""conv1d-layout: PyTorch NCL series fed to MLX's NLC Conv1d: a crash, or silent nonsense.

Source: ../shared/seeds/003_a039be727e17cf61.txt, fix 1 "Conv1d Dimension Fix: MLX Conv1d
expects NLC format (batch, length, channels), not NCL like PyTorch", fixed with
`x = mx.transpose(x, (0, 2, 1))` before the first conv. Tested: what feeding NCL really does.
Bug: a data pipeline ported from PyTorch yields (batch, channels, length) and the loop passes it
to the time-series model (`_timeseries`) whose encoder is `nn.Conv1d` (MLX: batch, length,
channels). Symptom: when channels != length, the first forward raises ValueError; when
channels == length, nothing is raised: the model trains, and its loss falls. Root cause: MLX
Conv1d reads the last axis as channels, so with C == L it convolves along the channel axis
and treats the time axis as channels. Fix: transpose each batch to NLC, `x.transpose(0, 2, 1)`.
Detection of the silent case: compare the model's first conv on the batch as the loop feeds it
with `conv1d_nlc_reference` (NumPy) on the same series in their true NLC layout.

Measured here (mlx 0.32.4, CPU, 2 cores, 2026-11-21), batch 32, AdamW lr 3e-3, 150 steps;
the check feeds 32 held-out series (seed 999) to the trained model's first conv:
- broken (3 channels x 24 steps, fed NCL): ValueError at the first step, "[conv] Expect the
  input channels in the input and weight array to match but got shapes - input: (32,3,24) and
  weight: (16,5,3)".
- broken_square (16 x 16, fed NCL): no error, and the loss falls further than the fixed
  loop's (window medians 1.41 -> 0.004; in a 200-step exploration, accuracy 100% on
  held-out series fed the same way), so neither loss nor accuracy reveals the bug: the first
  conv acts as a dense layer over the whole window, which happens to suit this frequency
  task (and would raise on any other window length). The reference check fails: max
  |conv - reference| 11.2 against a reference max |.| of 4.9.
- fixed (16 x 16, NCL transposed to NLC): reference max |diff| 3.3e-6 (tolerance 1e-3);
  loss 1.48 -> 0.097 (window medians); held-out loss 1.72 -> 0.138, accuracy 23% -> 95%.
Under mlxprobe (8 runs, identical numbers each time): crash:ValueError, wrong_result (first
conv check), pass. Step median 7-10 ms at load ~4 (17-34 ms at load ~6-11 from other jobs);
wall 3.4-6.3 s per training variant at load ~6-11 (no quieter run was available); 0.7-1.5 s
for the crash.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

from ._series_train import BATCH, LR, check_held_out, run_steps
from ._timeseries import (
    SeriesConfig,
    TimeSeriesModel,
    conv1d_nlc_reference,
    evaluate,
    loss_fn,
    make_timeseries_model,
    series_batches,
)

if TYPE_CHECKING:
    from mlxprobe.probe import Probe

SCENARIO = {
    "id": "conv1d-layout",
    "title": "PyTorch NCL batches fed to MLX's NLC Conv1d: a crash, or silent nonsense if C == L",
    "source": ["003_a039be727e17cf61.txt"],
    "variants": {"broken": "crash:ValueError", "broken_square": "wrong_result", "fixed": "pass"},
    "budget_s": 60,
}

STEPS = 150
SQUARE = SeriesConfig(channels=16, length=16)  # channels == length: NCL runs without an error
CONV_TOL = 1e-3  # float32 conv vs the float64 reference: measured max |diff| ~3e-6
HINT = "MLX Conv1d wants (batch, length, channels): feed x.transpose(0, 2, 1), not NCL"

Prepare = Callable[[mx.array], mx.array]


def _as_loaded(x: mx.array) -> mx.array:
    return x  # BUG: the PyTorch-layout (batch, channels, length) batch goes in as it is


def _to_nlc(x: mx.array) -> mx.array:
    return x.transpose(0, 2, 1)  # the fix: (batch, length, channels)


def _train(probe: Probe, model: TimeSeriesModel, config: SeriesConfig, prepare: Prepare) -> None:
    optimizer = optim.AdamW(learning_rate=LR)
    loss_and_grad = nn.value_and_grad(model, loss_fn)

    def step(x: mx.array, y: mx.array) -> dict[str, float]:
        loss, grads = loss_and_grad(model, prepare(x), y)
        optimizer.update(model, grads)
        mx.eval(loss, model.parameters(), optimizer.state)
        return {"loss": loss.item()}

    data = series_batches(BATCH, config.channels, config.length, seed=1, layout="NCL")
    run_steps(probe, data, STEPS, step)


def _check_conv(probe: Probe, model: TimeSeriesModel, config: SeriesConfig,
                prepare: Prepare) -> None:
    """The first conv on held-out series fed as the loop feeds them vs the NLC reference."""
    x_ncl, _ = next(series_batches(BATCH, config.channels, config.length, 999, layout="NCL"))
    conv = model.encoder.layers[0]
    fed = prepare(x_ncl)
    out = np.array(conv(fed))
    ref = conv1d_nlc_reference(np.array(x_ncl).transpose(0, 2, 1), np.array(conv.weight),
                               np.array(conv.bias), padding=config.kernel // 2)
    diff = float(np.abs(out - ref).max())
    probe.check("first conv matches the NumPy NLC reference", diff <= CONV_TOL, hint=HINT,
                max_abs_diff=diff, tolerance=CONV_TOL,
                reference_max_abs=float(np.abs(ref).max()), fed_shape=list(fed.shape))


def broken(probe: Probe) -> None:
    config = SeriesConfig()  # 3 channels, 24 steps
    _train(probe, make_timeseries_model(config=config), config, _as_loaded)


def broken_square(probe: Probe) -> None:
    model = make_timeseries_model(config=SQUARE)
    _train(probe, model, SQUARE, _as_loaded)
    _check_conv(probe, model, SQUARE, _as_loaded)


def fixed(probe: Probe) -> None:
    model = make_timeseries_model(config=SQUARE)
    before = evaluate(model, SQUARE)
    _train(probe, model, SQUARE, _to_nlc)
    _check_conv(probe, model, SQUARE, _to_nlc)
    check_held_out(probe, model, before, SQUARE)
