"""Lava-lamp blob height forecaster.

A lamp's wax blob rises and sinks with a slow thermal cycle; we log blob
height (cm) once a second.  A small LSTM reads the series in windows and is
trained with truncated BPTT: the (h, c) state is carried from one window to
the next (stop_gradient at the boundary) and reset when a new lamp starts.

Stage 1 predicts 1 s ahead; stage 2 (harder) predicts 4 s ahead, so the loss
jumps at the stage switch before it comes down again.  Learning rate warms up
from exactly 0.  Every report is one JSON line.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(7)

N_LAMPS = 16          # parallel lamps = batch
SERIES_LEN = 1200     # seconds per lamp
WIN = 24              # truncated BPTT window
HIDDEN = 32


def make_lamps():
    t = np.arange(SERIES_LEN, dtype=np.float32)
    out = []
    for _ in range(N_LAMPS):
        period = rng.uniform(60, 110)
        phase = rng.uniform(0, 2 * np.pi)
        drift = rng.uniform(-0.3, 0.3)
        h = 12 + 8 * np.sin(2 * np.pi * t / period + phase)
        h += 2.5 * np.sin(4 * np.pi * t / period + 2 * phase)   # blob stretching
        h += drift * t / SERIES_LEN
        h += rng.normal(0, 0.25, size=t.shape)
        out.append(h)
    x = np.stack(out).astype(np.float32)          # (lamps, T)
    return (x - 12.0) / 6.0                       # roughly standardised


series = mx.array(make_lamps())                   # (B, T)


class BlobForecaster(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(1, HIDDEN)
        self.head = nn.Linear(HIDDEN, 1)

    def __call__(self, x, h0, c0):
        hs, cs = self.lstm(x[..., None], hidden=h0, cell=c0)
        return self.head(hs).squeeze(-1), hs[:, -1, :], cs[:, -1, :]


model = BlobForecaster()
mx.eval(model.parameters())

steps_per_epoch = (SERIES_LEN - 8) // WIN
EPOCHS = 10
total = steps_per_epoch * EPOCHS
warm = 40
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm),
     optim.cosine_decay(3e-3, total - warm, 2e-4)],
    [warm],
)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def loss_fn(m, x, y, h0, c0):
    pred, h, c = m(x, h0, c0)
    return mx.mean((pred - y) ** 2), (h, c)


vg = nn.value_and_grad(model, loss_fn)


def train_step(x, y, h0, c0):
    (loss, (h, c)), grads = vg(model, x, y, h0, c0)
    opt.update(model, grads)
    return loss, h, c, grads


t0 = time.time()
gstep = 0
checked = False
for epoch in range(EPOCHS):
    horizon = 1 if epoch < 5 else 4
    stage = "nowcast_1s" if horizon == 1 else "forecast_4s"
    h = mx.zeros((N_LAMPS, HIDDEN))
    c = mx.zeros((N_LAMPS, HIDDEN))
    losses = []
    for k in range(steps_per_epoch):
        s = k * WIN
        if s + WIN + horizon > SERIES_LEN:
            break
        x = series[:, s:s + WIN]
        y = series[:, s + horizon:s + WIN + horizon]
        loss, h, c, grads = train_step(x, y, mx.stop_gradient(h), mx.stop_gradient(c))
        mx.eval(loss, h, c, model.parameters(), opt.state)
        if not checked:
            from mlx.utils import tree_flatten
            zero = [n for n, g in tree_flatten(grads) if float(mx.abs(g).sum()) == 0.0]
            print(json.dumps({"event": "grad_audit", "n_params": len(tree_flatten(grads)),
                              "zero_grad": zero, "lr_at_step0": float(opt.learning_rate)}))
            checked = True
        losses.append(loss.item())
        gstep += 1
    # persistence baseline: predict "same height as now"
    base = float(mx.mean((series[:, horizon:] - series[:, :-horizon]) ** 2))
    rec = {
        "epoch": epoch,
        "stage": stage,
        "step": gstep,
        "lr": round(float(opt.learning_rate), 6),
        "mse_first": round(losses[0], 5),
        "mse_mean": round(float(np.mean(losses)), 5),
        "mse_last_quarter": round(float(np.mean(losses[-len(losses) // 4:])), 5),
        "persistence_mse": round(base, 5),
        "rmse_cm": round(math.sqrt(float(np.mean(losses[-len(losses) // 4:]))) * 6.0, 3),
    }
    print(json.dumps(rec))

# free-running check on a fresh lamp with carried state
test = mx.array(make_lamps()[:4])
h = mx.zeros((4, HIDDEN)); c = mx.zeros((4, HIDDEN))
errs = []
for s in range(0, SERIES_LEN - WIN - 4, WIN):
    pred, h, c = model(test[:, s:s + WIN], h, c)
    errs.append(float(mx.mean((pred - test[:, s + 4:s + WIN + 4]) ** 2)))
mx.eval(h, c)
base = float(mx.mean((test[:, 4:] - test[:, :-4]) ** 2))
print(json.dumps({"event": "heldout", "horizon_s": 4, "mse": round(float(np.mean(errs)), 5),
                  "persistence_mse": round(base, 5), "secs": round(time.time() - t0, 2)}))
