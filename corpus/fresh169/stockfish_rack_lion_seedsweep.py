# Lofoten stockfish racks: predict how many percentage points of water a split
# cod loses on the drying rack, from rack and weather records.
# Three-seed sweep, Lion with a warm-up that starts at exactly lr = 0.
import json
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten


def make_racks(n, rng):
    wind = rng.uniform(1.0, 9.0, n)             # m/s sea breeze
    temp = rng.uniform(-3.0, 8.0, n)            # deg C
    rh = rng.uniform(55.0, 95.0, n)             # % relative humidity
    mass = rng.uniform(1.0, 4.0, n)             # kg fresh split cod
    weeks = rng.uniform(2.0, 12.0, n)           # weeks on the rack
    w0 = rng.uniform(78.0, 82.0, n)             # initial water content %
    k = 0.11 * np.sqrt(wind) * (1.0 - rh / 100.0) * np.exp(0.06 * temp) / np.sqrt(mass)
    lost = (w0 - 15.0) * (1.0 - np.exp(-k * weeks)) + rng.normal(0.0, 0.6, n)
    x = np.stack([wind, temp, rh, mass, weeks, w0], 1)
    return x.astype(np.float32), lost.astype(np.float32)


rng = np.random.default_rng(169)
x_tr, y_tr = make_racks(8000, rng)
x_va, y_va = make_racks(1500, rng)
mu, sd = x_tr.mean(0), x_tr.std(0)
x_tr = mx.array((x_tr - mu) / sd)
x_va = mx.array((x_va - mu) / sd)
y_tr = mx.array(y_tr)
y_va = mx.array(y_va)
baseline_pp = float(mx.mean(mx.abs(y_va - mx.mean(y_tr))))   # predict the training mean


class RackNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


WARM, TOTAL, PEAK, BATCH = 60, 420, 2e-3, 256
summary = []
for seed in (11, 12, 13):
    mx.random.seed(seed)
    np_rng = np.random.default_rng(seed)
    model = RackNet()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, TOTAL - WARM, 1e-5)],
        [WARM],
    )
    opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)
    vg = nn.value_and_grad(model, loss_fn)

    if seed == 11:
        _, g0 = vg(model, x_tr[:BATCH], y_tr[:BATCH])
        norms = {k: float(mx.linalg.norm(v)) for k, v in tree_flatten(g0)}
        print(json.dumps({"audit": "grad_norms", "min": round(min(norms.values()), 5),
                          "n_tensors": len(norms), "zero": [k for k, v in norms.items() if v == 0.0]}))

    for step in range(TOTAL + 1):
        idx = mx.array(np_rng.integers(0, x_tr.shape[0], BATCH))
        lr_now = float(opt.learning_rate)
        loss, grads = vg(model, x_tr[idx], y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 60 == 0:
            mae = float(mx.mean(mx.abs(model(x_va) - y_va)))
            print(json.dumps({"seed": seed, "step": step, "lr": round(lr_now, 6),
                              "huber": round(loss.item(), 4), "val_mae_pp": round(mae, 3),
                              "mean_baseline_pp": round(baseline_pp, 3)}))
    summary.append((seed, mae))

print("seed | val MAE (pp) | vs mean baseline")
for seed, mae in summary:
    print(f"{seed:4d} | {mae:12.3f} | {100.0 * mae / baseline_pp:6.1f}% of baseline")
print(f"mean over seeds: {sum(m for _, m in summary) / len(summary):.3f} pp")
