"""Batik workshop: predict the colour shift (delta-E against the swatch card)
of wax-resist dyed cotton from dye-vat log readings.  Two stages: first the
tidy sample squares, then the whole workshop log (wider vat range, heavier
cloth, noisier readings)."""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(1731)
mx.random.seed(1731)


def make_swatches(n, hard):
    peak = rng.uniform(560, 600, n) if not hard else rng.uniform(530, 680, n)   # vat temp x10 (K)
    hold = rng.uniform(5, 15, n) if not hard else rng.uniform(2, 40, n)         # dip minutes
    thick = rng.uniform(2.5, 3.5, n) if not hard else rng.uniform(2.0, 6.0, n)  # cloth weight, oz/yd2
    cu = rng.uniform(0, 1, n)     # indigo share of the dye
    co = rng.uniform(0, 1, n)     # soga-brown share
    se = rng.uniform(0, 1, n)     # mordant strength
    cool = rng.uniform(50, 150, n) if not hard else rng.uniform(20, 300, n)     # wax crackle, cracks / dm2
    heat = (peak - 560) / 40 * np.log1p(hold) / np.sqrt(thick / 3)
    de = (2.0 + 3.0 * cu * np.tanh(heat) + 1.5 * se * heat ** 2 / (1 + heat ** 2)
          - 0.8 * co * np.sin(heat) + 0.6 * np.log(cool / 100) ** 2)
    noise = 0.15 if not hard else 0.15 + 0.25 * rng.uniform(0, 1, n)
    de = de + noise * rng.standard_normal(n)
    X = np.stack([(peak - 600) / 40, (hold - 15) / 10, (thick - 3.5) / 1.2,
                  cu - 0.5, co - 0.5, se - 0.5, np.log(cool / 100)], 1)
    return mx.array(X.astype(np.float32)), mx.array(de.astype(np.float32))


@mx.custom_function
def soft_ceiling(x):
    # smooth activation, saturates at +3 and is linear-ish below
    return 3.0 - nn.softplus(3.0 - x)


@soft_ceiling.vjp
def soft_ceiling_vjp(primals, cotangent, output):
    x = primals
    return cotangent * mx.sigmoid(3.0 - x)


class DyeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = soft_ceiling(self.l1(x))
        h = soft_ceiling(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


model = DyeNet()
mx.eval(model.parameters())
opt = optim.Lion(learning_rate=3e-4, weight_decay=0.01)
step = nn.value_and_grad(model, loss_fn)

# audit: every weight should see gradient before we start
xa, ya = make_swatches(256, hard=False)
_, g0 = step(model, xa, ya)
from mlx.utils import tree_flatten
gn = {k: float(mx.linalg.norm(v)) for k, v in tree_flatten(g0)}
print(json.dumps({"audit": "grad_norms", "min": round(min(gn.values()), 5),
                  "n_tensors": len(gn)}))

t0 = time.time()
for stage, (hard, iters) in enumerate([(False, 600), (True, 900)], start=1):
    Xtr, Ytr = make_swatches(6000, hard)
    Xva, Yva = make_swatches(1500, hard)
    base_mae = float(mx.mean(mx.abs(Yva - mx.mean(Ytr))))
    for it in range(1, iters + 1):
        idx = mx.array(rng.integers(0, Xtr.shape[0], 128))
        loss, grads = step(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 150 == 0 or it == 1:
            mae = float(mx.mean(mx.abs(model(Xva) - Yva)))
            print(json.dumps({"stage": stage, "it": it, "huber": round(loss.item(), 4),
                              "val_mae_dE": round(mae, 3),
                              "mean_predictor_mae_dE": round(base_mae, 3)}))
    print(json.dumps({"stage_done": stage, "val_mae_dE": round(mae, 3),
                      "gain_vs_mean": f"{100 * (1 - mae / base_mae):.1f}%"}))
print(json.dumps({"wall_s": round(time.time() - t0, 1)}))
