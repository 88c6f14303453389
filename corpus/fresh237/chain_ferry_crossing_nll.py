"""Chain ferry operations: predict the next crossing time (minutes) and its spread.

A river chain ferry logs every trip: river current, vehicle load, crosswind and the
crossing time. An nn.LSTM reads the last 12 trips and outputs a mean and a log
variance for the next trip; it is trained with the Gaussian negative log-likelihood,
which goes below zero once the spread is learned. Early stopping keeps the best
validation weights. Baselines: a constant Gaussian fitted on the training targets and
the previous trip's time.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

WIN = 12


def simulate_day(r, trips=90):
    current = 0.6 + 0.4 * np.sin(np.linspace(0, 2 * np.pi, trips) + r.uniform(0, 6)) + r.normal(0, 0.05, trips).cumsum() * 0.2
    load = r.integers(0, 9, trips) / 8.0
    wind = np.abs(r.normal(0, 1, trips))
    gust = (r.random(trips) < 0.12).astype(float)
    chain_slack = np.zeros(trips)
    for i in range(1, trips):  # slack builds up trip after trip and is taken in at every 20th trip
        chain_slack[i] = 0.0 if i % 20 == 0 else chain_slack[i - 1] + 0.03
    mean = 6.0 + 2.0 * current + 0.8 * load + 0.9 * chain_slack
    sd = 0.05 + 0.45 * gust * wind + 0.05 * current
    dur = mean + sd * r.normal(0, 1, trips)
    feats = np.stack([current, load, wind, gust, (dur - 7.5) / 1.5], axis=-1)
    return feats.astype(np.float32), dur.astype(np.float32)


def windows(days):
    xs, ys, nxt, prev = [], [], [], []
    for feats, dur in days:
        for t in range(WIN, len(dur)):
            ctx = feats[t - WIN:t]
            xs.append(ctx)
            # next trip's conditions are known at departure (current, load, wind, gust), not its time
            nxt.append(feats[t, :4])
            ys.append(dur[t])
            prev.append(dur[t - 1])
    return (mx.array(np.stack(xs)), mx.array(np.stack(nxt)), mx.array(np.array(ys)), np.array(prev))


r = np.random.default_rng(11)
train_days = [simulate_day(r) for _ in range(20)]
val_days = [simulate_day(r) for _ in range(8)]
Xtr, Ntr, Ytr, _ = windows(train_days)
Xva, Nva, Yva, Pva = windows(val_days)


class FerryLSTM(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.lstm = nn.LSTM(5, hidden)
        self.cond = nn.Linear(4, hidden)
        self.out = nn.Linear(hidden, 2)

    def __call__(self, ctx, nxt):
        hs, _ = self.lstm(ctx)
        z = nn.gelu(hs[:, -1] + self.cond(nxt))
        o = self.out(z)
        return 7.5 + 1.5 * o[:, 0], o[:, 1]


def gauss_nll(mu, logvar, y):
    return 0.5 * (logvar + (y - mu) ** 2 * mx.exp(-logvar) + math.log(2 * math.pi))


def loss_fn(model, x, n, y):
    mu, logvar = model(x, n)
    return mx.mean(gauss_nll(mu, logvar, y))


mx.random.seed(3)
model = FerryLSTM()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
loss_and_grad = nn.value_and_grad(model, loss_fn)

ytr_np = np.array(Ytr)
m0, v0 = ytr_np.mean(), ytr_np.var()
const_nll = float(np.mean(0.5 * (np.log(v0) + (np.array(Yva) - m0) ** 2 / v0 + math.log(2 * math.pi))))
prev_mae = float(np.mean(np.abs(Pva - np.array(Yva))))
print(f"train windows {Xtr.shape[0]}  val windows {Xva.shape[0]}  params {sum(v.size for _, v in tree_flatten(model.parameters()))}")
print(f"baselines on val: constant-Gaussian nll {const_nll:.3f}   previous-trip MAE {prev_mae:.3f} min")

BS, MAX_EPOCHS, PATIENCE = 64, 30, 5
best, best_ep, bad = float("inf"), -1, 0
best_w = None
t0 = time.time()
for ep in range(MAX_EPOCHS):
    perm = mx.array(np.random.default_rng(ep).permutation(Xtr.shape[0]))
    tot, nb = 0.0, 0
    for i in range(0, Xtr.shape[0], BS):
        idx = perm[i:i + BS]
        loss, grads = loss_and_grad(model, Xtr[idx], Ntr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    mu, logvar = model(Xva, Nva)
    vnll = mx.mean(gauss_nll(mu, logvar, Yva)).item()
    vmae = mx.mean(mx.abs(mu - Yva)).item()
    cover = mx.mean((mx.abs(mu - Yva) < 1.96 * mx.exp(0.5 * logvar)).astype(mx.float32)).item()
    flag = ""
    if vnll < best - 1e-4:
        best, best_ep, bad = vnll, ep, 0
        best_w = [(k, mx.array(v)) for k, v in tree_flatten(model.parameters())]
        flag = " *"
    else:
        bad += 1
    if ep < 3 or ep % 4 == 3 or bad >= PATIENCE:
        print(f"epoch {ep + 1:2d}  train nll {tot / nb:+.3f}  val nll {vnll:+.3f}  val MAE {vmae:.3f}  95% cover {cover:.2f}{flag}")
    if bad >= PATIENCE:
        print(f"no val improvement for {PATIENCE} epochs, stopping at epoch {ep + 1}")
        break

model.load_weights(best_w)
mu, logvar = model(Xva, Nva)
vnll = mx.mean(gauss_nll(mu, logvar, Yva)).item()
vmae = mx.mean(mx.abs(mu - Yva)).item()
print(f"restored epoch {best_ep + 1}: val nll {vnll:+.3f} (constant Gaussian {const_nll:+.3f})  val MAE {vmae:.3f} (previous trip {prev_mae:.3f})")
print(f"done in {time.time() - t0:.1f}s")
