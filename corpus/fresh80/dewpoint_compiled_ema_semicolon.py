"""Greenhouse climate: predict tomorrow 06:00 dew point (C) from tonight's readings.

Compiled train step with model and optimizer state passed through
mx.compile(inputs=..., outputs=...). The printed training loss is a plain
exponential moving average that starts at 0 (no bias correction), so its first
values are small and then rise towards the real loss before falling with it.
Output is semicolon-separated rows with one header line.
"""
import time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(23)


def nights(n):
    t = rng.uniform(5, 30, n)           # 18:00 air temperature
    rh = rng.uniform(35, 98, n)         # 18:00 relative humidity %
    vent = rng.uniform(0, 1, n)         # vent opening fraction
    cloud = rng.uniform(0, 1, n)        # cloud cover outside
    heat = rng.uniform(0, 1, n)         # heating setpoint fraction
    irrig = rng.uniform(0, 6, n)        # evening irrigation, L/m2
    a, b = 17.62, 243.12
    g = np.log(rh / 100) + a * t / (b + t)
    td = b * g / (a - g)                # dew point now (Magnus)
    target = td - 3.0 * vent * (1 - cloud) + 1.5 * heat + 0.35 * irrig - 0.8 * (1 - cloud) \
        + rng.normal(0, 0.4, n)
    return np.stack([t, rh, vent, cloud, heat, irrig], 1), target


Xtr, ytr = nights(16000)
Xva, yva = nights(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr_ = mx.array(((Xtr - mu) / sd).astype(np.float32))
Xva_ = mx.array(((Xva - mu) / sd).astype(np.float32))
ytr_ = mx.array(((ytr - ymu) / ysd).astype(np.float32))

mx.random.seed(9)
model = nn.Sequential(nn.Linear(6, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=1e-3, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x).squeeze(-1), y, delta=1.0, reduction="mean")


grad_fn = nn.value_and_grad(model, loss_fn)

# eager first-step gradient audit (no update)
_, g0 = grad_fn(model, Xtr_[:128], ytr_[:128])
leaves = tree_flatten(g0)
zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = grad_fn(model, x, y)
    opt.update(model, grads)
    return loss


def val_metrics():
    pred = np.array(model(Xva_).squeeze(-1)) * ysd + ymu
    err = pred - yva
    return float(np.sqrt((err ** 2).mean())), float((np.abs(err) <= 0.5).mean() * 100)


print("epoch;step;ema_train_huber_std;val_rmse_C;val_within_half_degree_pct;secs")
print("# gradient leaves %d; zero-gradient leaves %s" % (len(leaves), zero))
r, w = val_metrics()
print("0;0;;%.3f;%.1f;0.0" % (r, w))
ema, beta = 0.0, 0.98
t0 = time.time()
step = 0
bs = 64
N = Xtr_.shape[0]
for epoch in range(1, 11):
    perm = mx.array(rng.permutation(N))
    for i in range(0, N - bs + 1, bs):
        idx = perm[i:i + bs]
        loss = train_step(Xtr_[idx], ytr_[idx])
        mx.eval(state, loss)
        step += 1
        ema = beta * ema + (1 - beta) * loss.item()
        if epoch == 1 and step in (1, 25, 100):
            r, w = val_metrics()
            print("%d;%d;%.4f;%.3f;%.1f;%.1f" % (epoch, step, ema, r, w, time.time() - t0))
    r, w = val_metrics()
    print("%d;%d;%.4f;%.3f;%.1f;%.1f" % (epoch, step, ema, r, w, time.time() - t0))
base = float(np.sqrt(((yva - ymu) ** 2).mean()))
print("# done; predict-mean rmse %.3f C; noise sd 0.4 C" % base)
