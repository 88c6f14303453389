# Dumpling kitchen: predict filling core temperature (deg C) after a steaming run.
# Two-stage curriculum: fresh dumplings first, then frozen ones are mixed in (harder, loss rises).
import json, math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial

rng = np.random.default_rng(7)

def make_batch(n, frozen_share):
    minutes = rng.uniform(4, 16, n)
    mass_g = rng.uniform(12, 40, n)
    layers = rng.integers(1, 4, n).astype(np.float64)      # bamboo basket tier
    steam_kw = rng.uniform(1.0, 3.0, n)
    frozen = (rng.uniform(size=n) < frozen_share).astype(np.float64)
    start = np.where(frozen > 0, -18.0, 6.0) + rng.normal(0, 1.5, n)
    k = 0.09 * steam_kw / (1 + 0.15 * (layers - 1)) * (25.0 / mass_g) ** 0.6
    k = k * np.where(frozen > 0, 0.55, 1.0)                # latent heat of thawing
    core = 98.0 - (98.0 - start) * np.exp(-k * minutes) + rng.normal(0, 1.2, n)
    X = np.stack([(minutes - 10) / 3.5, (mass_g - 26) / 8, layers - 2,
                  (steam_kw - 2) / 0.6, frozen * 2 - 1], 1)
    return mx.array(X.astype(np.float32)), mx.array(((core - 60) / 25).astype(np.float32))

Xva_a, yva_a = make_batch(1500, 0.0)
Xva_b, yva_b = make_batch(1500, 0.5)

class CoreTemp(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)
    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.out(h).squeeze(-1)

model = CoreTemp()
mx.eval(model.parameters())

total = 1400
warm = 150
def lr_at(step):
    # linear warmup from exactly 0, then cosine
    return optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-4)], [warm])(step)
opt = optim.AdamW(learning_rate=lambda s: lr_at(s), weight_decay=1e-4)

def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=0.5, reduction="mean")

state = [model.state, opt.state]

@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss

# check every parameter gets a gradient
xb, yb = make_batch(256, 0.3)
_, g0 = nn.value_and_grad(model, loss_fn)(model, xb, yb)
from mlx.utils import tree_flatten
gn = {k: float(mx.linalg.norm(v)) for k, v in tree_flatten(g0)}
print(json.dumps({"event": "grad_audit", "min_norm": round(min(gn.values()), 6), "n_params": len(gn)}))

def rmse_deg(x, y):
    return float(mx.sqrt(mx.mean((model(x) - y) ** 2))) * 25.0

t0 = time.time()
stage = "fresh"
for it in range(total):
    if it == 700:
        stage = "fresh+frozen"
    share = 0.0 if stage == "fresh" else 0.5
    x, y = make_batch(128, share)
    loss = step(x, y)
    mx.eval(loss, model.parameters(), opt.state)
    if it % 100 == 0 or it == total - 1:
        rec = {"it": it, "stage": stage, "lr": round(float(opt.learning_rate), 6),
               "huber": round(float(loss), 5),
               "rmse_fresh_C": round(rmse_deg(Xva_a, yva_a), 3),
               "rmse_mixed_C": round(rmse_deg(Xva_b, yva_b), 3),
               "ref_sensor_C": 1.2}
        print(json.dumps(rec))
print(json.dumps({"event": "done", "sec": round(time.time() - t0, 2),
                  "final_rmse_mixed_C": round(rmse_deg(Xva_b, yva_b), 3)}))
