# Rooftop cistern maintenance: minutes to drain a rain-water cistern through its outlet valves.
# Written for data-parallel runs: gradients are averaged with mx.distributed.all_sum over the
# group (a single process here, so world size 1). Compiled step with model/optimizer state.
# Train loss is shown as a bias-corrected exponential moving average (starts from 0).
import time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

group = mx.distributed.init()
rank, world = group.rank(), group.size()
rng = np.random.default_rng(11 + rank)

def make(n):
    head = rng.uniform(0.5, 3.0, n)          # water depth, m
    area = rng.uniform(2, 12, n)             # cistern floor area, m2
    outlets = rng.integers(1, 5, n)          # outlet valves open
    opening = rng.uniform(0.2, 1.0, n)       # valve opening fraction
    silt = rng.uniform(0, 1, n)              # sediment index (slows the outflow)
    a_out = outlets * opening * 7e-4         # effective outlet area, m2
    minutes = 2 * area * np.sqrt(head) / (0.6 * a_out * np.sqrt(2 * 9.81)) / 60 * (1 + 0.15 * silt)
    minutes = minutes * np.exp(rng.normal(0, 0.05, n))
    X = np.stack([head, area, outlets, opening, silt], 1).astype(np.float32)
    return X, np.log(minutes).astype(np.float32)

Xtr, ytr = make(16000)
Xte, yte = make(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
log_mu = float(ytr.mean())                 # model predicts log-minutes around their mean
ytr_c = ytr - log_mu

mx.random.seed(5)
model = nn.Sequential(nn.Linear(5, 96), nn.SiLU(), nn.Linear(96, 96), nn.SiLU(), nn.Linear(96, 1))
opt = optim.AdamW(learning_rate=1.5e-3, weight_decay=1e-4)

def loss_fn(xb, yb):
    return nn.losses.mse_loss(model(xb).squeeze(-1), yb)

vg = nn.value_and_grad(model, loss_fn)

def allreduce_mean(grads):
    return tree_map(lambda g: mx.distributed.all_sum(g, group=group) / world, grads)

state = [model.state, opt.state]

@partial(mx.compile, inputs=state, outputs=state)
def train_step(xb, yb):
    loss, grads = vg(xb, yb)
    grads = allreduce_mean(grads)
    opt.update(model, grads)
    return loss

Xtr_m, ytr_m = mx.array(Xtr), mx.array(ytr_c)
Xte_m = mx.array(Xte)

def test_report():
    pred = np.array(model(Xte_m).squeeze(-1)) + log_mu
    err = np.abs(np.exp(pred) - np.exp(yte))
    return {"test_mae_min": round(float(err.mean()), 3),
            "within_10pct": f"{100 * float(np.mean(err / np.exp(yte) < 0.10)):.1f}%"}

print({"event": "setup", "rank": rank, "world": world, "rows": len(ytr),
       "mean_drain_min": round(float(np.exp(yte).mean()), 2), **test_report()})

# gradient audit, eager, on one batch (same reduction as the compiled step)
l0, g0 = vg(Xtr_m[:128], ytr_m[:128])
g0 = allreduce_mean(g0)
flat = tree_flatten(g0)
print({"event": "grad_audit", "leaves": len(flat),
       "zero_leaves": [k for k, v in flat if float(mx.abs(v).max()) == 0.0]})

BATCH, STEPS, beta = 128, 2400, 0.98
ema, t0 = 0.0, time.time()
cursor, perm = 0, rng.permutation(len(ytr))
for it in range(1, STEPS + 1):
    if cursor + BATCH > len(perm):
        cursor, perm = 0, rng.permutation(len(ytr))
    idx = mx.array(perm[cursor:cursor + BATCH]); cursor += BATCH
    loss = train_step(Xtr_m[idx], ytr_m[idx])
    mx.eval(loss, model.state, opt.state)
    ema = beta * ema + (1 - beta) * loss.item()
    if it in (1, 10) or it % 400 == 0:
        print({"event": "train", "step": it, "ema_mse_log": round(ema / (1 - beta ** it), 5),
               **test_report(), "secs": round(time.time() - t0, 1)})
print({"event": "done", "steps": STEPS, "noise_floor_mse_log": 0.0025, "secs": round(time.time() - t0, 1)})
