"""Surrogate for the exact period of a large-amplitude pendulum.

T = 4 sqrt(L/g) K(sin(theta0/2)), K = complete elliptic integral of the first
kind, computed here with the arithmetic-geometric mean.  Inputs: length L
(0.1-20 m, log-uniform), release angle theta0 (5-170 deg) and gravity g (a
random solar-system body, 1.6-25 m/s^2).  The net regresses log T (standardised)
with a CELU MLP, Adafactor in its default relative-step mode, a compiled step,
and reports nothing until the run is over; then the whole history is written
as an iCalendar file (one VEVENT per epoch).
"""
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)


def agm(a, b, n=30):
    for _ in range(n):
        a, b = (a + b) / 2, np.sqrt(a * b)
    return a


def period(L, theta0, g):
    k = np.sin(theta0 / 2)
    K = math.pi / (2 * agm(np.ones_like(k), np.sqrt(1 - k * k)))
    return 4 * np.sqrt(L / g) * K


def make(n):
    L = np.exp(rng.uniform(np.log(0.1), np.log(20.0), n))
    th = np.deg2rad(rng.uniform(5.0, 170.0, n))
    g = rng.uniform(1.6, 25.0, n)
    T = period(L, th, g) * np.exp(rng.normal(0, 0.002, n))  # stopwatch noise
    X = np.stack([np.log(L), th, np.log(g)], axis=1)
    return X.astype(np.float32), np.log(T).astype(np.float32)


Xtr, ytr = make(12000)
Xva, yva = make(3000)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr_n, Xva_n = (Xtr - mu) / sd, (Xva - mu) / sd
ytr_n, yva_n = (ytr - ymu) / ysd, (yva - ymu) / ysd


class PeriodNet(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        self.inp = nn.Linear(3, width)
        self.hid = [nn.Linear(width, width) for _ in range(2)]
        self.out = nn.Linear(width, 1)
        self.act = nn.CELU(alpha=1.0)

    def __call__(self, x):
        h = self.act(self.inp(x))
        for layer in self.hid:
            h = self.act(layer(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


mx.random.seed(0)
model = PeriodNet()
opt = optim.Adafactor()  # relative_step=True, scale_parameter=True, lr=None
vg = nn.value_and_grad(model, loss_fn)

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = vg(model, x, y)
    opt.update(model, grads)
    return loss


# gradient audit on the untrained model (outside the compiled step)
l0, g0 = vg(model, mx.array(Xtr_n[:128]), mx.array(ytr_n[:128]))
flat = tree_flatten(g0)
zero_leaves = sum(float(mx.abs(g).max()) == 0.0 for _, g in flat)
baseline_rel = float(np.mean(np.abs(np.exp(ymu) / np.exp(yva) - 1)))

Xva_mx, yva_np = mx.array(Xva_n), yva


def validate():
    pred = np.array(model(Xva_mx)) * ysd + ymu
    rel = np.abs(np.exp(pred - yva_np) - 1)
    mse_n = float(np.mean(((pred - yva_np) / ysd) ** 2))
    return mse_n, float(rel.mean()), float(np.percentile(rel, 95))


EPOCHS, BATCH = 16, 100
history = []
t0 = time.perf_counter()
n = len(Xtr_n)
for ep in range(1, EPOCHS + 1):
    perm = rng.permutation(n)
    tot, cnt = 0.0, 0
    for i in range(0, n, BATCH):
        idx = perm[i:i + BATCH]
        loss = step(mx.array(Xtr_n[idx]), mx.array(ytr_n[idx]))
        mx.eval(loss, state)
        tot += loss.item() * len(idx)
        cnt += len(idx)
    history.append((ep, tot / cnt, *validate(), time.perf_counter() - t0))

# --- the report: an iCalendar file -------------------------------------------
print("BEGIN:VCALENDAR")
print("VERSION:2.0")
print("PRODID:-//pendulum-lab//period-surrogate//EN")
print(f"X-TRAIN-SIZE:{len(Xtr)}")
print(f"X-GRADCHECK:leaves={len(flat)};zero={zero_leaves};loss0={l0.item():.4f}")
print(f"X-BASELINE:constant-predictor mean rel err={baseline_rel:.4f}")
for ep, tr, va, rel, p95, el in history:
    print("BEGIN:VEVENT")
    print(f"UID:epoch-{ep:02d}@pendulum-lab")
    print(f"DTSTART:20260101T{int(el) // 3600:02d}{int(el) % 3600 // 60:02d}{int(el) % 60:02d}Z")
    print(f"SUMMARY:epoch {ep}/{EPOCHS}")
    print(f"DESCRIPTION:train_mse={tr:.6f}\\, valid_mse={va:.6f}\\, "
          f"valid_rel_err={rel:.5f}\\, valid_p95_rel_err={p95:.5f}\\, elapsed={el:.1f}s")
    print("END:VEVENT")
for name, L, deg, g in [("clock 1m Earth 10deg", 1.0, 10.0, 9.81),
                        ("swing 3m Earth 90deg", 3.0, 90.0, 9.81),
                        ("Moon 2m 160deg", 2.0, 160.0, 1.62)]:
    x = (np.array([[np.log(L), np.deg2rad(deg), np.log(g)]], np.float32) - mu) / sd
    p = float(np.exp(np.array(model(mx.array(x)))[0] * ysd + ymu))
    print(f"COMMENT:{name}: net {p:.4f} s vs exact {float(period(np.array(L), np.deg2rad(deg), g)):.4f} s")
print("END:VCALENDAR")
