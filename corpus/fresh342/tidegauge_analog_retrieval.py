"""Harbour tide-gauge surge nowcast with an analog (retrieval-augmented) model.

For each 24-hour window of de-tided water level we predict the next 3 hourly
surge residuals.  The model embeds the query window, retrieves the k most
similar windows from a datastore of past windows (by cosine similarity in the
learned embedding space), and attends over the continuations of those
analogs.  A small parametric head is added on top.

Stage A: warmup from lr=0, datastore encoder is the live model.
Stage B: the datastore keys are refreshed only every 2 epochs (stale index),
         so the loss can step when the index is rebuilt.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)

WIN, HOR, K = 24, 3, 8


def make_series(n_hours):
    t = np.arange(n_hours)
    # slow weather systems: sum of AR(1) forcing pushed through a damped oscillator
    forcing = np.zeros(n_hours)
    for i in range(1, n_hours):
        forcing[i] = 0.97 * forcing[i - 1] + rng.normal(0, 0.08)
    surge = np.zeros(n_hours)
    v = 0.0
    for i in range(1, n_hours):
        v = 0.9 * v + 0.1 * forcing[i] - 0.02 * surge[i - 1]
        surge[i] = surge[i - 1] + v
    seiche = 0.15 * np.sin(2 * np.pi * t / 5.3) * (np.abs(forcing) > 0.4)
    return (surge + seiche + rng.normal(0, 0.03, n_hours)).astype(np.float32)


def windows(series):
    X, Y = [], []
    for i in range(0, len(series) - WIN - HOR, 2):
        X.append(series[i:i + WIN])
        Y.append(series[i + WIN:i + WIN + HOR])
    return np.stack(X), np.stack(Y)


series = make_series(9000)
split = 7000
Xs, Ys = windows(series[:split])          # datastore + training queries
Xv, Yv = windows(series[split:])          # validation (queries only)
mu, sd = Xs.mean(), Xs.std()
Xs, Ys, Xv, Yv = [(a - mu) / sd for a in (Xs, Ys, Xv, Yv)]
print(f"datastore windows {len(Xs)}, val windows {len(Xv)}")

Xs_m, Ys_m = mx.array(Xs), mx.array(Ys)
Xv_m, Yv_m = mx.array(Xv), mx.array(Yv)


class AnalogNet(nn.Module):
    def __init__(self, d=48):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(WIN, 96), nn.GELU(), nn.Linear(96, d))
        self.val = nn.Linear(HOR + WIN, d)
        self.q = nn.Linear(d, d)
        self.out = nn.Sequential(nn.Linear(2 * d, 64), nn.GELU(), nn.Linear(64, HOR))
        self.param_head = nn.Linear(WIN, HOR)

    def embed(self, x):
        e = self.enc(x - x[:, -1:])
        return e / (mx.linalg.norm(e, axis=-1, keepdims=True) + 1e-6)

    def __call__(self, x, keys, store_x, store_y, exclude=None):
        q = self.embed(x)                                   # (B, d)
        sims = q @ keys.T                                   # (B, N)
        if exclude is not None:                             # drop the query itself
            sims = mx.where(exclude, -1e9, sims)
        idx = mx.stop_gradient(mx.argpartition(-sims, K, axis=-1)[:, :K])  # (B, K)
        s = mx.take_along_axis(sims, idx, axis=-1)          # (B, K), differentiable wrt q
        ax = store_x[idx]                                   # (B, K, WIN)
        ay = store_y[idx]                                   # (B, K, HOR)
        rel = ay - ax[:, :, -1:]                            # analog continuation, level-free
        v = self.val(mx.concatenate([rel, ax - ax[:, :, -1:]], axis=-1))
        a = mx.softmax(s * 10.0, axis=-1)[..., None]
        ctx = (a * v).sum(axis=1)
        h = mx.concatenate([self.q(q), ctx], axis=-1)
        return x[:, -1:] + self.out(h) + self.param_head(x - x[:, -1:])


model = AnalogNet()
mx.eval(model.parameters())

EPOCHS, BS = 14, 128
steps_per_epoch = math.ceil(len(Xs) / BS)
total = EPOCHS * steps_per_epoch
warm = 2 * steps_per_epoch
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, warm),
     optim.cosine_decay(2e-3, total - warm, 1e-4)], [warm])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def loss_fn(m, xb, yb, keys, ids):
    excl = mx.arange(keys.shape[0])[None, :] == ids[:, None]
    pred = m(xb, keys, Xs_m, Ys_m, exclude=excl)
    return nn.losses.mse_loss(pred, yb)


step = nn.value_and_grad(model, loss_fn)


def rmse(pred, y):
    return float(mx.sqrt(mx.mean((pred - y) ** 2)))


# reference numbers next to which the model is judged
persist = rmse(mx.repeat(Xv_m[:, -1:], HOR, axis=1), Yv_m)
print(f"baseline persistence val rmse {persist:.4f}")

keys = mx.stop_gradient(model.embed(Xs_m))
t0 = time.time()
for ep in range(EPOCHS):
    stage = "A" if ep < 6 else "B"
    if stage == "A" or ep % 2 == 0:
        keys = mx.stop_gradient(model.embed(Xs_m))
        mx.eval(keys)
        refreshed = True
    else:
        refreshed = False
    perm = mx.array(rng.permutation(len(Xs)))
    tot, n = 0.0, 0
    for i in range(0, len(Xs), BS):
        ids = perm[i:i + BS]
        loss, g = step(model, Xs_m[ids], Ys_m[ids], keys, ids)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item() * ids.shape[0]
        n += ids.shape[0]
    vkeys = mx.stop_gradient(model.embed(Xs_m))
    pred = model(Xv_m, vkeys, Xs_m, Ys_m)
    vr = rmse(pred, Yv_m)
    print(f"epoch {ep:2d} stage {stage} index {'fresh' if refreshed else 'stale'} "
          f"lr {opt.learning_rate.item():.2e} train mse {tot / n:.4f} val rmse {vr:.4f}")

# retrieval-only and parametric-only ablations on the trained model
vkeys = model.embed(Xs_m)
sims = model.embed(Xv_m) @ vkeys.T
idx = mx.argpartition(-sims, K, axis=-1)[:, :K]
knn = Xv_m[:, -1:] + (Ys_m[idx] - Xs_m[idx][:, :, -1:]).mean(axis=1)
print(f"ablation knn-average val rmse {rmse(knn, Yv_m):.4f}")
full = rmse(model(Xv_m, vkeys, Xs_m, Ys_m), Yv_m)
print(f"final analog model val rmse {full:.4f} vs persistence {persist:.4f} "
      f"({100 * (1 - full / persist):.1f}% better) in {time.time() - t0:.1f}s")
