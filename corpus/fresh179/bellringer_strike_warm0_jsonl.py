# Change-ringing practice night: predict a ringer's striking error (ms, late > 0)
# from the tower log, with cosine warm restarts that each start from lr = 0.
import json, math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
N, NV = 6000, 1500
def make(n):
    bell_kg = rng.uniform(150, 1200, n)          # tenor is heavy
    exp_yr = rng.exponential(6.0, n)              # ringer experience
    place = rng.integers(1, 9, n).astype(float)   # place in the change
    hand = rng.integers(0, 2, n).astype(float)    # handstroke/backstroke
    rope_stretch = rng.uniform(0, 1, n)
    fatigue_min = rng.uniform(0, 90, n)
    err = (25 * np.log(bell_kg / 150) / (1 + 0.3 * exp_yr)
           + 12 * hand * np.sin(place / 2.0)
           + 18 * rope_stretch ** 2 + 0.25 * fatigue_min * np.exp(-exp_yr / 8)
           - 10 + rng.normal(0, 4.0, n))
    X = np.stack([np.log(bell_kg), np.log1p(exp_yr), place / 8, hand,
                  rope_stretch, fatigue_min / 90], 1)
    return X.astype(np.float32), err.astype(np.float32)
Xtr, ytr = make(N); Xva, yva = make(NV)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))
base_mse = float(mx.mean((yva - ytr.mean()) ** 2))   # predict-the-mean reference

class Striker(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64); self.l2 = nn.Linear(64, 64); self.out = nn.Linear(64, 1)
    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x))))).squeeze(-1)

model = Striker()
mx.eval(model.parameters())
CYCLES, STEPS, PEAK = 4, 350, 3e-3
def lr_at(i):               # restarts at exactly 0, warm 30 steps, cosine down
    w = 30
    if i < w:
        return PEAK * i / w
    return PEAK * 0.5 * (1 + math.cos(math.pi * (i - w) / (STEPS - w)))
opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)

def loss_fn(m, x, y):
    return mx.mean((m(x) - y) ** 2)
state = [model.state, opt.state]

def step(x, y):
    loss, g = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, g)
    return loss
step = mx.compile(step, inputs=state, outputs=state)

# check every weight receives gradient once before training
_, g0 = nn.value_and_grad(model, loss_fn)(model, Xtr[:256], ytr[:256])
from mlx.utils import tree_flatten
gn = {k: float(mx.abs(v).sum()) for k, v in tree_flatten(g0)}
print(json.dumps({"event": "grad_check", "zero_grad_tensors": [k for k, v in gn.items() if v == 0.0],
                  "n_tensors": len(gn)}))

t0 = time.time()
B = 128
for c in range(CYCLES):
    for i in range(STEPS):
        opt.learning_rate = lr_at(i)
        idx = mx.array(rng.integers(0, N, B))
        loss = step(Xtr[idx], ytr[idx])
        mx.eval(state, loss)
        if i % 70 == 0 or i == STEPS - 1:
            va = float(loss_fn(model, Xva, yva))
            print(json.dumps({"cycle": c, "step": i, "lr": round(lr_at(i), 6),
                              "train_mse_ms2": round(loss.item(), 2),
                              "val_rmse_ms": round(math.sqrt(va), 3),
                              "ref_rmse_ms": round(math.sqrt(base_mse), 3),
                              "noise_floor_ms": 4.0}))
va = float(loss_fn(model, Xva, yva))
print(json.dumps({"event": "done", "val_rmse_ms": round(math.sqrt(va), 3),
                  "explained_pct": round(100 * (1 - va / base_mse), 1),
                  "wall_s": round(time.time() - t0, 1)}))
