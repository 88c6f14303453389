"""Tennis racket restringing shop: predict tension loss (kg) after N days.

Synthetic shop log: stringer reference tension, string gauge, polyester flag,
days since stringing, hours played, room temperature, pre-stretch flag.
Stage A trains on fresh rackets only (days <= 7); stage B adds old frames
(days up to 60) that drift much further, so the loss jumps when it starts.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)


def make_log(n, max_days):
    ref = rng.uniform(20.0, 28.0, n)          # kg
    gauge = rng.uniform(1.15, 1.35, n)        # mm
    poly = rng.integers(0, 2, n).astype(np.float64)
    days = rng.uniform(0.0, max_days, n)
    hours = days * rng.uniform(0.1, 1.2, n)
    temp = rng.normal(21.0, 4.0, n)
    prestretch = rng.integers(0, 2, n).astype(np.float64)
    # made-up law: fast initial creep then slow decay, poly loses more
    creep = ref * (0.06 + 0.03 * poly) * (1 - np.exp(-days / 3.0))
    slow = 0.035 * ref * np.log1p(days / 10.0) * (1 + 0.5 * poly)
    play = 0.02 * hours * (1.4 - gauge)
    warm = 0.04 * np.maximum(temp - 20.0, 0.0)
    loss_kg = creep + slow + play + warm - 0.6 * prestretch * (1 - np.exp(-days / 3.0))
    loss_kg += rng.normal(0.0, 0.12, n)
    X = np.stack([ref, gauge, poly, days, hours, temp, prestretch], 1)
    return X, loss_kg


XA, yA = make_log(900, 7.0)
XB, yB = make_log(900, 60.0)
Xv, yv = make_log(400, 60.0)

mu = XB.mean(0)
sd = XB.std(0)


def prep(X):
    return mx.array(((X - mu) / sd).astype(np.float32))


XA_, XB_, Xv_ = prep(XA), prep(XB), prep(Xv)
yA_, yB_, yv_ = (mx.array(v.astype(np.float32)) for v in (yA, yB, yv))


class TensionNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 40)
        self.l2 = nn.Linear(40, 40)
        self.out = nn.Linear(40, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


model = TensionNet()
mx.eval(model.parameters())

steps_a, steps_b = 300, 500
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, 40), optim.cosine_decay(3e-3, steps_a + steps_b - 40, 2e-4)],
    [40],
)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
vg = nn.value_and_grad(model, mse)

# check that every parameter gets a gradient before training
_, g0 = vg(model, XA_[:64], yA_[:64])
gn = {k: float(mx.linalg.norm(v)) for k, v in nn.utils.tree_flatten(g0)}
print(json.dumps({"event": "grad_audit", "min_norm": round(min(gn.values()), 5),
                  "n_tensors": len(gn)}))

base_v = float(mx.mean((yv_ - float(yB.mean())) ** 2))
t0 = time.time()
step = 0
for stage, (Xs, ys, n_steps) in (("A_fresh", (XA_, yA_, steps_a)), ("B_all", (mx.concatenate([XA_, XB_]), mx.concatenate([yA_, yB_]), steps_b))):
    n = Xs.shape[0]
    for i in range(n_steps):
        idx = mx.array(rng.integers(0, n, 64))
        loss, grads = vg(model, Xs[idx], ys[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        if i % 50 == 0 or i == n_steps - 1:
            val = float(mse(model, Xv_, yv_))
            tr = float(mse(model, Xs, ys))
            print(json.dumps({"stage": stage, "it": i, "lr": round(float(opt.learning_rate), 6),
                              "train_mse": round(tr, 4), "holdout_mse": round(val, 4),
                              "mean_baseline_mse": round(base_v, 4),
                              "rmse_g": round(1000 * math.sqrt(val), 1)}))

pred = np.array(model(Xv_))
mae = float(np.mean(np.abs(pred - yv)))
print(json.dumps({"event": "done", "holdout_mae_kg": round(mae, 3),
                  "explained_pct": round(100 * (1 - float(mse(model, Xv_, yv_)) / base_v), 1),
                  "secs": round(time.time() - t0, 2)}))
