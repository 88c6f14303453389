"""Road depot pothole forecaster.

Daily weather + yesterday's reports -> new pothole reports per 10 km of road
some days ahead (to plan patching crews).  A small GRU is trained with a horizon curriculum: first 1 day ahead,
then 3, then 5 days ahead (each stage is harder, so the loss jumps when a
stage starts).  Compiled train step, Lion optimiser.
"""
import math
import sys
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(135)
mx.random.seed(135)

# ---------------------------------------------------------------- synthetic data
N_ROADS, N_YEARS, SEASON = 18, 5, 64
WINDOW = 10
HORIZONS = [1, 3, 5]


def make_season():
    day = np.arange(SEASON)
    warm = -6.0 + 14.0 * day / SEASON                       # spring warming
    front = np.convolve(rng.normal(0, 3.0, SEASON + 6), np.ones(7) / 2.6, "valid")
    tmin = warm - 5.0 + front + rng.normal(0, 1.5, SEASON)
    tmax = warm + 5.0 + front + rng.normal(0, 1.5, SEASON)
    sun = np.clip(rng.normal(5.5, 2.5, SEASON), 0, 11)
    snow = np.maximum(0, 60 - 1.1 * day + np.cumsum(rng.normal(0, 2, SEASON)))
    freeze = np.clip(-tmin, 0, None)
    thaw = np.clip(tmax, 0, None)
    # potholes open after a freeze the night before and a thaw in the day;
    # deep snow means ploughing damage; late spring the patch crews catch up
    prev_freeze = np.concatenate([[freeze[0]], freeze[:-1]])
    run = np.sqrt(prev_freeze * thaw) * (0.6 + 0.04 * sun) * (1 + snow / 120.0)
    run *= np.exp(-np.maximum(0, day - 45) / 8.0)
    reports = np.maximum(0, 0.55 * run + rng.normal(0, 0.35, SEASON))
    feats = np.stack([tmin / 8, tmax / 8, sun / 5, snow / 40, reports / 2], axis=1)
    return feats.astype(np.float32), reports.astype(np.float32)


def windows(horizon, seasons):
    xs, ys, persist = [], [], []
    for feats, rep in seasons:
        for t in range(WINDOW, SEASON - horizon + 1):
            x = feats[t - WINDOW:t]
            h = np.full((WINDOW, 1), horizon / 5.0, np.float32)
            xs.append(np.concatenate([x, h], axis=1))
            ys.append(rep[t + horizon - 1])
            persist.append(rep[t - 1])
    return (mx.array(np.stack(xs)), mx.array(np.array(ys)),
            np.array(ys), np.array(persist))


seasons = [make_season() for _ in range(N_ROADS * N_YEARS)]
split = int(0.8 * len(seasons))
train_seasons, valid_seasons = seasons[:split], seasons[split:]


# ---------------------------------------------------------------- model
class PotholeNet(nn.Module):
    def __init__(self, d_in=6, hidden=32):
        super().__init__()
        self.gru = nn.GRU(d_in, hidden)
        self.head = nn.Sequential(nn.Linear(hidden, 32), nn.SiLU(), nn.Linear(32, 1))

    def __call__(self, x):
        h = self.gru(x)[:, -1, :]
        return self.head(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


model = PotholeNet()
mx.eval(model.parameters())
optimizer = optim.Lion(learning_rate=4e-4, weight_decay=1e-3)
loss_and_grad = nn.value_and_grad(model, loss_fn)

# one-off audit: every trainable tensor must receive a gradient
xa, ya, _, _ = windows(1, train_seasons[:4])
_, g0 = loss_and_grad(model, xa, ya)
from mlx.utils import tree_flatten
norms = {k: float(mx.linalg.norm(v.reshape(-1))) for k, v in tree_flatten(g0)}
zero = [k for k, v in norms.items() if v == 0.0]
print(f"[audit] {len(norms)} grad tensors, min |g| {min(norms.values()):.2e}, "
      f"max |g| {max(norms.values()):.2e}, zero: {zero if zero else 'none'}")

state = [model.state, optimizer.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = loss_and_grad(model, x, y)
    optimizer.update(model, grads)
    return loss


def evaluate(xv, yv_np, persist_np):
    pred = np.array(model(xv))
    mae = float(np.mean(np.abs(pred - yv_np)))
    mae_p = float(np.mean(np.abs(persist_np - yv_np)))
    return mae, mae_p, 100.0 * (1.0 - mae / mae_p)


def bar(done, total, width=24):
    k = int(width * done / total)
    return "#" * k + "." * (width - k)


STEPS_PER_STAGE = 200
BATCH = 64
summary = []
t0 = time.time()
for stage, horizon in enumerate(HORIZONS, start=1):
    xt, yt, _, _ = windows(horizon, train_seasons)
    xv, yv, yv_np, persist_np = windows(horizon, valid_seasons)
    n = xt.shape[0]
    running = None
    t_stage = time.time()
    for it in range(1, STEPS_PER_STAGE + 1):
        idx = mx.array(rng.integers(0, n, BATCH))
        loss = train_step(xt[idx], yt[idx])
        mx.eval(state, loss)
        lv = loss.item()
        running = lv if running is None else 0.9 * running + 0.1 * lv
        if it % 40 == 0 or it == 1:
            rate = it / max(time.time() - t_stage, 1e-9)
            sys.stdout.write(f"stage {stage}/{len(HORIZONS)} h={horizon}d |{bar(it, STEPS_PER_STAGE)}| "
                             f"{it:3d}/{STEPS_PER_STAGE} huber={running:.4f} [{rate:5.1f} it/s]\n")
    mae, mae_p, skill = evaluate(xv, yv_np, persist_np)
    summary.append((stage, horizon, running, mae, mae_p, skill))
    print(f"  -> valid h={horizon}d: MAE {mae:.3f} reports/10km (persistence {mae_p:.3f} reports/10km), skill {skill:+.1f}%")

print()
print("stage | horizon | train huber | valid MAE reports/10km | persistence reports/10km | skill")
print("------+---------+-------------+-----------------+-------------------+-------")
for st, h, tr, mae, mae_p, sk in summary:
    print(f"{st:5d} | {h:5d} d | {tr:11.4f} | {mae:15.3f} | {mae_p:17.3f} | {sk:+5.1f}%")
print(f"total {time.time() - t0:.1f}s")
