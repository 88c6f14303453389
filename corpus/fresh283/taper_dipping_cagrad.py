"""Dipped-taper workshop: two targets from one shared trunk.

Each batch of hand-dipped tapers is logged with 7 readings (wax temperature,
dip count, dwell seconds, wick gauge, stearin share, room temperature, cooling
fan speed).  We predict
  * burn time in hours (regression), and
  * whether the taper guttered / dripped in the burn test (binary).

The two tasks pull the shared trunk in partly different directions, so the
shared-trunk update uses conflict-averse gradient descent (CAGrad, Liu et al.
2021, two-task form): per-task gradients from two value_and_grad calls, a
1-D search for the mixing weight w on a numpy grid, then
    d = (g0 + sqrt(phi) / |g_w| * g_w) / (1 + c^2),  phi = c^2 |g0|^2.
Heads keep their own task gradient.  SGD with momentum, learning rate warmed up
from exactly 0, then one step decay.  Progress is written in the Graphite
plaintext protocol (path value timestamp), the timestamp being the step.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)

N_TRAIN, N_VAL, D = 8000, 1500, 7


def make(n):
    x = rng.normal(size=(n, D)).astype(np.float32)
    wax, dips, dwell, gauge, stearin, room, fan = x.T
    hours = (9.0 + 1.6 * dips + 0.9 * stearin - 1.1 * gauge + 0.6 * np.tanh(wax)
             - 0.5 * room + 0.4 * dips * stearin)
    hours = hours + rng.normal(scale=0.7, size=n)
    logit = (-1.2 + 1.3 * gauge - 0.9 * stearin + 0.8 * room - 0.6 * fan
             + 0.7 * dips + 0.5 * wax * gauge)
    drip = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.float32)
    return x, hours.astype(np.float32), drip


xtr, htr, ytr = make(N_TRAIN)
xva, hva, yva = make(N_VAL)
h_mean, h_std = float(htr.mean()), float(htr.std())
Xtr, Htr, Ytr = mx.array(xtr), mx.array((htr - h_mean) / h_std), mx.array(ytr)
Xva, Yva = mx.array(xva), mx.array(yva)


class TaperNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(D, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.hours_head = nn.Linear(64, 1)
        self.drip_head = nn.Linear(64, 1)

    def __call__(self, x):
        z = self.trunk(x)
        return self.hours_head(z).squeeze(-1), self.drip_head(z).squeeze(-1)


def loss_hours(model, x, h, y):
    ph, _ = model(x)
    return nn.losses.mse_loss(ph, h)


def loss_drip(model, x, h, y):
    _, pd = model(x)
    return nn.losses.binary_cross_entropy(pd, y, with_logits=True)


model = TaperNet()
mx.eval(model.parameters())

C = 0.4
WARM, DECAY_AT, STEPS, BATCH = 60, 700, 1000, 128
lr_sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 0.05, WARM),
     optim.step_decay(0.05, 0.3, DECAY_AT - WARM)],
    [WARM])
opt = optim.SGD(learning_rate=lr_sched, momentum=0.9)

vg_h = nn.value_and_grad(model, loss_hours)
vg_d = nn.value_and_grad(model, loss_drip)
W_GRID = np.linspace(0.0, 1.0, 201)


def flat_trunk(g):
    items = tree_flatten(g["trunk"])
    return items, mx.concatenate([v.reshape(-1) for _, v in items])


def cagrad_direction(g1, g2):
    """Return the CAGrad trunk direction, the chosen w and cos(g1, g2)."""
    a = np.array(g1, dtype=np.float64)
    b = np.array(g2, dtype=np.float64)
    g0 = 0.5 * (a + b)
    g11, g12, g22 = a @ a, a @ b, b @ b
    g01, g02 = g0 @ a, g0 @ b
    sqrt_phi = C * math.sqrt(max(g0 @ g0, 1e-20))
    w = W_GRID
    gw_g0 = w * g01 + (1 - w) * g02
    gw_norm = np.sqrt(np.maximum(w * w * g11 + 2 * w * (1 - w) * g12 + (1 - w) ** 2 * g22, 1e-20))
    obj = gw_g0 + sqrt_phi * gw_norm
    k = int(np.argmin(obj))
    wk = float(w[k])
    gw = wk * a + (1 - wk) * b
    d = (g0 + sqrt_phi / gw_norm[k] * gw) / (1.0 + C * C)
    cos = g12 / math.sqrt(max(g11 * g22, 1e-30))
    return mx.array(d.astype(np.float32)), wk, cos


def combine(g_h, g_d):
    items, f1 = flat_trunk(g_h)
    _, f2 = flat_trunk(g_d)
    d, wk, cos = cagrad_direction(f1, f2)
    out, off = [], 0
    for name, v in items:
        n = v.size
        out.append((name, d[off:off + n].reshape(v.shape)))
        off += n
    grads = {
        "trunk": tree_unflatten(out),
        "hours_head": g_h["hours_head"],
        "drip_head": g_d["drip_head"],
    }
    return grads, wk, cos


def evaluate():
    ph, pd = model(Xva)
    hours = ph * h_std + h_mean
    rmse = mx.sqrt(mx.mean((hours - mx.array(hva)) ** 2))
    acc = mx.mean(((pd > 0).astype(mx.float32) == Yva).astype(mx.float32))
    bce = nn.losses.binary_cross_entropy(pd, Yva, with_logits=True)
    mx.eval(rmse, acc, bce)
    return rmse.item(), 100.0 * acc.item(), bce.item()


def emit(path, value, step):
    print(f"taper.{path} {value:.5f} {step}")


base_rmse = float(np.sqrt(np.mean((hva - h_mean) ** 2)))
p1 = float(ytr.mean())
base_acc = 100.0 * max(float(yva.mean()), 1.0 - float(yva.mean()))
base_bce = float(-(yva * np.log(p1) + (1 - yva) * np.log(1 - p1)).mean())
emit("baseline.val_rmse_hours", base_rmse, 0)
emit("baseline.val_acc_pct", base_acc, 0)
emit("baseline.val_bce", base_bce, 0)
r, a, b = evaluate()
emit("val.rmse_hours", r, 0)
emit("val.acc_pct", a, 0)
emit("val.bce", b, 0)

t0 = time.time()
perm = rng.permutation(N_TRAIN)
cursor = 0
win = {"mse": 0.0, "bce": 0.0, "w": 0.0, "cos": 0.0, "n": 0}
for step in range(1, STEPS + 1):
    if cursor + BATCH > N_TRAIN:
        perm = rng.permutation(N_TRAIN)
        cursor = 0
    idx = mx.array(perm[cursor:cursor + BATCH])
    cursor += BATCH
    xb, hb, yb = Xtr[idx], Htr[idx], Ytr[idx]
    lh, g_h = vg_h(model, xb, hb, yb)
    ld, g_d = vg_d(model, xb, hb, yb)
    mx.eval(lh, ld, g_h, g_d)
    lr_used = float(np.array(lr_sched(opt.step)))
    grads, wk, cos = combine(g_h, g_d)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    if step == 1:
        emit("audit.lr_first_update", lr_used, step)
        emit("audit.grad_cos_first", cos, step)
    win["mse"] += lh.item(); win["bce"] += ld.item()
    win["w"] += wk; win["cos"] += cos; win["n"] += 1
    if step % 100 == 0:
        n = win["n"]
        emit("train.hours_mse_std", win["mse"] / n, step)
        emit("train.drip_bce", win["bce"] / n, step)
        emit("cagrad.w_hours_mean", win["w"] / n, step)
        emit("cagrad.grad_cos_mean", win["cos"] / n, step)
        emit("lr", lr_used, step)
        r, a, b = evaluate()
        emit("val.rmse_hours", r, step)
        emit("val.acc_pct", a, step)
        emit("val.bce", b, step)
        win = {"mse": 0.0, "bce": 0.0, "w": 0.0, "cos": 0.0, "n": 0}

r, a, b = evaluate()
emit("final.val_rmse_hours", r, STEPS)
emit("final.val_acc_pct", a, STEPS)
emit("final.val_bce", b, STEPS)
emit("final.seconds", time.time() - t0, STEPS)
