"""nan-unchecked: one missing sensor reading (NaN) reaches the optimizer and poisons every weight.

Source: ../shared/seeds/004_5bdaaef4cda6c98e.txt, Fix 2 "Force Evaluation of Loss" with
"# Check for NaN: if loss_float != loss_float or loss_float > 1e6: ... continue" before the
gradients are used, and Fix 5 "Loss validation (NaN and explosion checks)".

Bug: the loop applies every batch's gradients without looking at the loss first.
Symptom: training goes well, then from one step on the loss is NaN forever and every trainable
parameter is NaN; the held-out loss is NaN too. Nothing raises.
Root cause: a series in one batch lost a reading (a sensor dropout, stored as NaN, as
`np.genfromtxt` loads an empty CSV cell). NaN propagates through the convolution into the
batch's mean loss and into every element of every gradient; AdamW writes NaN into every
trainable parameter and both moment buffers, so all later steps stay NaN even on clean data
(measured: all 8 gradient arrays, all 8 trainable arrays and all 16 moment arrays entirely
NaN after step 40; the frozen LM stays finite).
Fix (the seed's claim, tested): evaluate the loss before the update and skip the batch when
it is not finite (`math.isfinite(loss.item())`, plus the seed's > 1e6 explosion test). This
keeps the parameters finite; the data itself still has the gap (clean or impute it upstream).

Measured here (mlx 0.32.4, CPU, 2 cores, 2026-11-21), `_timeseries` model (random frozen
TinyLM, 2,228 trainable parameters), batch 32, AdamW lr 3e-3, 150 steps, one NaN reading in
the batch of step 40. Broken: loss 1.81 at step 1, 0.63 at step 39, NaN at every step from 40
on (111 of 150), `params_finite` True at steps 1-39 and False from step 40 on; held-out loss
1.54 -> NaN. Fixed: skips 1 batch (step 40, with a "[WARN] invalid loss nan" line), parameters
finite at all 149 steps it made, loss 1.42 -> 0.021 (medians of the first and last 10% of steps),
held-out loss 1.54 -> 0.020.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

from ._loops import check_drop, params_finite
from ._timeseries import SeriesConfig, evaluate, loss_fn, make_timeseries_model, series_batches

SCENARIO = {
    "id": "nan-unchecked",
    "title": "a NaN reading in one batch: unchecked loss, the update turns every weight NaN",
    "source": ["004_5bdaaef4cda6c98e.txt"],
    "variants": {"broken": "diverged", "fixed": "pass"},
    "budget_s": 60,
}

BATCH, STEPS, LR = 32, 150, 3e-3
GAP_STEP = 40  # the batch that holds the series with the missing reading
MAX_LOSS = 1e6  # the seed's explosion test
MIN_VAL_DROP = 0.5


def sensor_batches(config: SeriesConfig, seed: int = 1) -> Iterator[tuple[mx.array, mx.array]]:
    """Training batches as the loader delivers them: one series of batch GAP_STEP has a gap."""
    stream = series_batches(BATCH, config.channels, config.length, seed)
    for step, (x, y) in enumerate(stream, start=1):
        if step == GAP_STEP:
            readings = np.array(x)
            readings[5, 10, 1] = np.nan  # channel 1 dropped one reading of series 5
            x = mx.array(readings)
        yield x, y


def _train(probe, check_loss: bool) -> tuple[float, float, int]:  # noqa: ANN001 - a Probe
    """Run the loop; (held-out loss before, after, batches skipped)."""
    config = SeriesConfig()
    model = make_timeseries_model(seed=0, config=config)
    optimizer = optim.AdamW(learning_rate=LR)
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    before, _ = evaluate(model, config)
    skipped = 0
    probe.reset_clock()
    for x, y in itertools.islice(sensor_batches(config), STEPS):
        loss, grads = loss_and_grad(model, x, y)
        value = loss.item()
        if check_loss and not (math.isfinite(value) and value <= MAX_LOSS):
            skipped += 1
            print(f"[WARN] invalid loss {value}: batch skipped", flush=True)
            continue
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
        probe.step(loss=value, params_finite=params_finite(model), skipped=skipped)
    return before, evaluate(model, config)[0], skipped


def broken(probe) -> None:  # noqa: ANN001 - mlxprobe.probe.Probe
    _train(probe, check_loss=False)  # BUG: every batch's gradients reach the optimizer


def fixed(probe) -> None:  # noqa: ANN001 - mlxprobe.probe.Probe
    before, after, skipped = _train(probe, check_loss=True)  # the fix: check, then update
    check_drop(probe, "heldout_loss", before, after, MIN_VAL_DROP, skipped_batches=skipped)
