"""Vineyard frost-fan control: 3-hour-ahead minimum temperature from the last 16 hourly
readings (air temp, dew point, wind, cloud) with a hand-written GRU.

The GRU is fitted quietly on the valley-floor station, frozen, and both of its
projections get rank-4 adapters for a hillside vineyard whose canopy sits in a frost
pocket on calm, clear nights. Adapters use rank-stabilised scaling (alpha / sqrt(r)), dropout on the adapter
input, and LoRA+ step sizes: the up matrices (B) train 16x faster than the down (A)
matrices through optim.MultiOptimizer. Output: logfmt lines.
"""
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

T, F, H = 16, 4, 32
NOISE = 0.4
rng = np.random.default_rng(21)
mx.random.seed(21)


def nights(n, site, r):
    hours = np.arange(T + 3)
    t0 = r.uniform(2, 12, (n, 1))
    cool = r.uniform(0.3, 0.8, (n, 1))
    wind = np.clip(r.gamma(2.0, 1.2, (n, 1)) + 0.3 * r.standard_normal((n, T + 3)), 0, None)
    cloud = np.clip(r.uniform(0, 1, (n, 1)) + 0.1 * r.standard_normal((n, T + 3)), 0, 1)
    rate = cool * (1 - 0.7 * cloud) / (1 + 0.4 * wind)
    temp = t0 - np.cumsum(rate, axis=1) + 0.15 * r.standard_normal((n, T + 3))
    dew = temp - r.uniform(1, 6, (n, 1)) - 0.2 * hours[None] * 0.1
    X = np.stack([temp, dew, wind, cloud], -1)[:, :T].astype(np.float32)
    y = temp[:, T:T + 3].min(1) + NOISE * r.standard_normal(n)
    if site == "hill":  # canopy-level frost pocket on calm, clear nights
        calm_clear = (1 - cloud[:, T - 1]) * np.exp(-wind[:, T - 1] / 1.5)
        y = y - 2.5 * calm_clear
    last = temp[:, T - 1]
    return X, y.astype(np.float32), last.astype(np.float32)


Xv_tr, yv_tr, _ = nights(6000, "valley", rng)
Xh_tr, yh_tr, _ = nights(400, "hill", rng)
Xh_va, yh_va, lh_va = nights(1000, "hill", rng)
Xv_va, yv_va, _ = nights(1000, "valley", rng)
mu, sd = Xv_tr.reshape(-1, F).mean(0), Xv_tr.reshape(-1, F).std(0)
ym, ys = float(yv_tr.mean()), float(yv_tr.std())
norm = lambda X: mx.array((X - mu) / sd)
Xv_tr_m, Xh_tr_m, Xh_va_m, Xv_va_m = map(norm, (Xv_tr, Xh_tr, Xh_va, Xv_va))
yv_tr_m, yh_tr_m = mx.array((yv_tr - ym) / ys), mx.array((yh_tr - ym) / ys)


class GRUNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.wx = nn.Linear(F, 3 * H)
        self.wh = nn.Linear(H, 3 * H)
        self.out = nn.Linear(H, 1)

    def __call__(self, x):
        h = mx.zeros((x.shape[0], H))
        gx = self.wx(x)
        for t in range(T):
            gh = self.wh(h)
            z = mx.sigmoid(gx[:, t, :H] + gh[:, :H])
            r = mx.sigmoid(gx[:, t, H:2 * H] + gh[:, H:2 * H])
            n = mx.tanh(gx[:, t, 2 * H:] + r * gh[:, 2 * H:])
            h = (1 - z) * n + z * h
        return self.out(h)[:, 0]


class RankStableLoRA(nn.Module):
    def __init__(self, lin, r, alpha, p):
        super().__init__()
        dout, din = lin.weight.shape
        self.lin = lin
        self.lora_a = mx.random.uniform(-1 / math.sqrt(din), 1 / math.sqrt(din), (din, r))
        self.lora_b = mx.zeros((r, dout))
        self.drop = nn.Dropout(p)
        self.scale = alpha / math.sqrt(r)

    def __call__(self, x):
        return self.lin(x) + self.scale * ((self.drop(x) @ self.lora_a) @ self.lora_b)


def mse(model, x, y):
    return ((model(x) - y) ** 2).mean()


def rmse_c(model, x, y):
    model.eval()
    p = model(x) * ys + ym
    model.train()
    return float(mx.sqrt(((p - mx.array(y)) ** 2).mean()))


def compiled_step(model, opt):
    vg = nn.value_and_grad(model, mse)
    state = [model.state, opt.state, mx.random.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, g = vg(model, x, y)
        opt.update(model, g)
        return loss
    return step, vg


t0 = time.time()
net = GRUNet()
opt = optim.Adam(learning_rate=optim.cosine_decay(3e-3, 500, 2e-4))
step, _ = compiled_step(net, opt)
for k in range(500):
    idx = mx.array(rng.integers(0, 6000, 64))
    step(Xv_tr_m[idx], yv_tr_m[idx])
    mx.eval(net.state, opt.state)
ref_hill = rmse_c(net, Xh_va_m, yh_va)
ref_valley = rmse_c(net, Xv_va_m, yv_va)
persist = float(np.sqrt(((lh_va - yh_va) ** 2).mean()))
print(f"event=base_ready secs={time.time() - t0:.1f} valley_rmse_c={ref_valley:.3f} "
      f"hill_rmse_c={ref_hill:.3f} persistence_rmse_c={persist:.3f} noise_floor_c={NOISE}")

net.freeze()
snap = {k: np.array(v) for k, v in tree_flatten(net.parameters())}
net.wx = RankStableLoRA(net.wx, r=4, alpha=4.0, p=0.1)
net.wh = RankStableLoRA(net.wh, r=4, alpha=4.0, p=0.1)
net.train()
lr_a, ratio = 2e-4, 16
opt = optim.MultiOptimizer(
    [optim.Adam(learning_rate=lr_a * ratio), optim.Adam(learning_rate=lr_a)],
    [lambda path, w: path.endswith("lora_b")])
step, vg = compiled_step(net, opt)
_, g0 = vg(net, Xh_tr_m[:64], yh_tr_m[:64])
print("event=grad_audit " + " ".join(
    f"{k}={float(mx.abs(v).max()):.2e}" for k, v in tree_flatten(g0)))
print(f"event=adapters trainable={sum(v.size for _, v in tree_flatten(net.trainable_parameters()))} "
      f"lr_a={lr_a:g} lr_b={lr_a * ratio:g} scale={4.0 / math.sqrt(4):g}")

win = []
for k in range(1, 601):
    idx = mx.array(rng.integers(0, 400, 32))
    loss = step(Xh_tr_m[idx], yh_tr_m[idx])
    mx.eval(net.state, opt.state, loss)
    win.append(loss.item())
    if k in (1, 2, 3) or k % 100 == 0:
        print(f"event=adapt step={k} train_mse_std={np.mean(win):.4f} "
              f"hill_rmse_c={rmse_c(net, Xh_va_m, yh_va):.3f} valley_rmse_c={rmse_c(net, Xv_va_m, yv_va):.3f} "
              f"hill_ref_c={ref_hill:.3f} persistence_rmse_c={persist:.3f}")
        win = []

cur = {k.replace(".lin.", "."): np.array(v) for k, v in tree_flatten(net.parameters())}
drift = max(float(np.abs(cur[k] - v).max()) for k, v in snap.items())
norms = {k: float(np.linalg.norm(v)) for k, v in cur.items() if "lora_" in k}
print(f"event=done frozen_drift={drift:.1e} " + " ".join(f"{k}_l2={v:.3f}" for k, v in norms.items())
      + f" secs={time.time() - t0:.1f}")
