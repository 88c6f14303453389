import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

# River gauging station: next-day discharge (m3/s) from five catchment readings.
# Nine quantile levels are predicted at once; the head builds them as a running
# sum of positive increments so the levels come out ordered.

LEVELS = np.linspace(0.1, 0.9, 9).astype(np.float32)
rng = np.random.default_rng(7)


def make_days(n):
    rain = rng.gamma(1.5, 6.0, n)                  # mm, last 24 h
    soil = rng.uniform(0.1, 0.9, n)                # saturation share
    snow = rng.exponential(0.4, n)                 # melt index
    base = rng.lognormal(2.0, 0.35, n)             # yesterday's baseflow m3/s
    temp = rng.normal(8.0, 6.0, n)                 # deg C
    runoff = 0.9 * rain * soil ** 1.5 + 4.0 * snow * (temp > 2)
    loc = base * 0.85 + runoff
    scale = 0.6 + 0.25 * rain * soil               # wetter days are less certain
    y = loc + scale * rng.gumbel(0.0, 1.0, n)      # right-skewed error
    x = np.stack([np.log1p(rain), soil, snow, np.log(base), temp], 1)
    return x.astype(np.float32), y.astype(np.float32)


x_tr, y_tr = make_days(14000)
x_va, y_va = make_days(3000)
mu, sd = x_tr.mean(0), x_tr.std(0)
x_tr, x_va = (x_tr - mu) / sd, (x_va - mu) / sd
y_mu, y_sd = float(y_tr.mean()), float(y_tr.std())


class GaugeNet(nn.Module):
    def __init__(self, d_in, width, n_q):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, width), nn.GELU(),
                                  nn.Linear(width, width), nn.GELU())
        self.first = nn.Linear(width, 1)
        self.steps = nn.Linear(width, n_q - 1)

    def __call__(self, x):
        h = self.body(x)
        inc = nn.softplus(self.steps(h)) + 1e-4
        return mx.concatenate([self.first(h), self.first(h) + mx.cumsum(inc, axis=1)], axis=1)


def pinball(q_pred, y, taus):
    e = y[:, None] - q_pred
    return mx.mean(mx.maximum(taus * e, (taus - 1.0) * e))


def winkler(lo, hi, y, alpha=0.2):
    width = hi - lo
    pen = (2.0 / alpha) * (np.maximum(lo - y, 0) + np.maximum(y - hi, 0))
    return float(np.mean(width + pen))


taus = mx.array(LEVELS)
model = GaugeNet(5, 64, len(LEVELS))
mx.eval(model.parameters())

EPOCHS, BATCH = 32, 128
steps_per_epoch = len(x_tr) // BATCH
warm = steps_per_epoch * 2
lr = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm),
     optim.cosine_decay(3e-3, steps_per_epoch * (EPOCHS - 2), 3e-5)], [warm])
opt = optim.Adagrad(learning_rate=lr)


def loss_fn(m, xb, yb):
    return pinball(m(xb), (yb - y_mu) / y_sd, taus)


grad_fn = nn.value_and_grad(model, loss_fn)
X_tr, Y_tr = mx.array(x_tr), mx.array(y_tr)
X_va = mx.array(x_va)

# unconditional (climatology) quantiles of the training discharge
clim = np.quantile(y_tr, LEVELS)
clim_pin = float(np.mean([np.mean(np.maximum(t * (y_va - c), (t - 1) * (y_va - c)))
                          for t, c in zip(LEVELS, clim)]))
clim_w = winkler(np.full_like(y_va, clim[0]), np.full_like(y_va, clim[-1]), y_va)


def evaluate():
    q = np.array(model(X_va)) * y_sd + y_mu
    pin = float(np.mean([np.mean(np.maximum(t * (y_va - q[:, i]), (t - 1) * (y_va - q[:, i])))
                         for i, t in enumerate(LEVELS)]))
    cover = float(np.mean((y_va >= q[:, 0]) & (y_va <= q[:, -1]))) * 100
    cross = int(np.sum(np.diff(q, axis=1) < 0))
    return pin, winkler(q[:, 0], q[:, -1], y_va), cover, cross


print(f"gauge: {len(x_tr)} train days, {len(x_va)} check days, levels {LEVELS[0]:.1f}..{LEVELS[-1]:.1f}")
print(f"climatology   : pinball {clim_pin:.3f} m3/s | winkler80 {clim_w:.2f} m3/s")
p0, w0, c0, _ = evaluate()
print(f"untrained     : pinball {p0:.3f} m3/s | winkler80 {w0:.2f} m3/s | inside band {c0:5.1f}%")

report_at = {1, 2, 4, 8, 16, 32}
t0 = time.perf_counter()
step = 0
for epoch in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(len(x_tr)))
    run = 0.0
    for b in range(steps_per_epoch):
        idx = perm[b * BATCH:(b + 1) * BATCH]
        loss, grads = grad_fn(model, X_tr[idx], Y_tr[idx])
        if step == 0:
            leaves = tree_flatten(grads)
            nz = sum(1 for _, g in leaves if float(mx.abs(g).sum()) > 0)
            print(f"first batch   : {nz}/{len(leaves)} gradient tensors non-zero, lr used {float(lr(mx.array(0))):.1e}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += float(loss)
        step += 1
    if epoch in report_at:
        pin, w, cov, cross = evaluate()
        print(f"E{epoch:03d} | train pinball(std) {run / steps_per_epoch:.4f} | check pinball {pin:.3f} m3/s"
              f" | winkler80 {w:.2f} (clim {clim_w:.2f}) | inside 10-90 band {cov:5.1f}% (aim 80)"
              f" | crossings {cross} | {time.perf_counter() - t0:5.1f}s")

pin, w, cov, cross = evaluate()
print(f"finished: {step} updates; check pinball {pin:.3f} vs climatology {clim_pin:.3f} m3/s;"
      f" interval score {w:.2f} vs {clim_w:.2f}")
