"""Round reserve parachute: predict steady descent rate (m/s) from packing-card data.

Stage 1 trains on calm-air drop-tower data; stage 2 adds the gusty field jumps
(noisier, harder) so the loss jumps up when the stage begins.
Lion with a linear warm-up that starts from lr = 0, then cosine decay.
Writes one JSON object per report line.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(2024)


def make_jumps(n, gusty):
    area = rng.uniform(20.0, 45.0, n)          # canopy area m^2
    load = rng.uniform(60.0, 130.0, n)         # suspended mass kg
    alt = rng.uniform(0.0, 3000.0, n)          # field elevation m
    porosity = rng.uniform(0.5, 3.0, n)        # fabric porosity cfm
    vent = rng.uniform(0.3, 0.9, n)            # apex vent diameter m
    rho = 1.225 * np.exp(-alt / 8500.0)
    cd = 0.8 - 0.05 * porosity - 0.12 * vent
    v = np.sqrt(2 * load * 9.81 / (rho * cd * area))
    noise = 0.15 if not gusty else 0.6
    v = v + rng.normal(0, noise, n)
    if gusty:
        v = v + 0.4 * np.abs(rng.normal(0, 1, n))   # gust loading biases sink upward
    X = np.stack([area, load, alt / 1000.0, porosity, vent], 1)
    return X.astype(np.float32), v.astype(np.float32)


Xc, yc = make_jumps(3000, gusty=False)
Xg, yg = make_jumps(3000, gusty=True)
Xv, yv = make_jumps(600, gusty=True)
mu, sd = Xc.mean(0), Xc.std(0)
ymu, ysd = yc.mean(), yc.std()


def prep(X, y):
    return mx.array((X - mu) / sd), mx.array((y - ymu) / ysd)


Xc_, yc_ = prep(Xc, yc)
Xg_, yg_ = prep(Xg, yg)
Xv_, yv_ = prep(Xv, yv)


class SinkNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.out(h).squeeze(-1)


mx.random.seed(5)
model = SinkNet()
mx.eval(model.parameters())

STEPS_PER_STAGE = 500
warm = optim.linear_schedule(0.0, 3e-4, 150)
decay = optim.cosine_decay(3e-4, 2 * STEPS_PER_STAGE - 150, end=1e-5)
opt = optim.Lion(learning_rate=optim.join_schedules([warm, decay], [150]), weight_decay=1e-3)


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=1.0, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)

# naive baseline: the textbook formula with a fixed Cd of 0.75 at sea level
def textbook(X):
    return np.sqrt(2 * X[:, 1] * 9.81 / (1.225 * 0.75 * X[:, 0]))


base_rmse = float(np.sqrt(np.mean((textbook(Xv) - yv) ** 2)))

# gradient audit before training
_, g0 = vg(model, Xc_[:64], yc_[:64])
zero = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0]
print(json.dumps({"event": "grad_audit", "tensors": len(tree_flatten(g0)), "all_zero": zero}))

t0 = time.time()
step = 0
B = 100
for stage, (Xs, ys) in enumerate([(Xc_, yc_), (mx.concatenate([Xc_, Xg_]), mx.concatenate([yc_, yg_]))], 1):
    n = Xs.shape[0]
    for it in range(STEPS_PER_STAGE):
        idx = mx.array(rng.integers(0, n, B))
        loss, grads = vg(model, Xs[idx], ys[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        if it % 100 == 0 or it == STEPS_PER_STAGE - 1:
            pv = np.array(model(Xv_)) * ysd + ymu
            rmse = float(np.sqrt(np.mean((pv - yv) ** 2)))
            print(json.dumps({
                "stage": stage, "it": it, "step": step,
                "lr": round(float(opt.learning_rate.item()), 7),
                "huber": round(loss.item(), 5),
                "val_rmse_mps": round(rmse, 4),
                "textbook_rmse_mps": round(base_rmse, 4),
            }))

pv = np.array(model(Xv_)) * ysd + ymu
rmse = float(np.sqrt(np.mean((pv - yv) ** 2)))
within = float(np.mean(np.abs(pv - yv) < 0.5) * 100)
print(json.dumps({"event": "done", "val_rmse_mps": round(rmse, 4), "within_0.5mps_pct": round(within, 1),
                  "textbook_rmse_mps": round(base_rmse, 4), "seconds": round(time.time() - t0, 2)}))
