"""Shearing shed notebook: predict greasy fleece weight (kg) per sheep.

Hand-written momentum SGD, linear warmup from lr=0, then cosine with warm
restarts (SGDR). Each restart kicks the loss back up for a while.
Logs JSON lines; a 'mean-of-train' baseline is printed beside the model.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

mx.random.seed(7)

N_TRAIN, N_VAL = 1200, 300
BREEDS = ["merino", "corriedale", "romney"]


def make_flock(n, key):
    k1, k2, k3, k4, k5, k6 = mx.random.split(key, 6)
    breed = mx.random.randint(0, 3, (n,), key=k1)
    age = mx.random.uniform(1.0, 8.0, (n,), key=k2)            # years
    body = mx.random.normal((n,), key=k3) * 7.0 + 62.0         # kg
    days = mx.random.uniform(150.0, 420.0, (n,), key=k4)       # since last shear
    micron = mx.random.normal((n,), key=k5) * 2.0 + 21.0
    base = mx.array([4.6, 5.3, 4.1])[breed]
    fleece = (base * (days / 365.0)
              + 0.035 * (body - 62.0)
              - 0.12 * (age - 4.0) ** 2 / 4.0
              - 0.08 * (micron - 21.0)
              + 0.15 * mx.random.normal((n,), key=k6))
    onehot = (breed[:, None] == mx.arange(3)[None, :]).astype(mx.float32)
    x = mx.concatenate([onehot, mx.stack([age, body, days, micron], axis=1)], axis=1)
    return x, fleece


xtr, ytr = make_flock(N_TRAIN, mx.random.key(1))
xva, yva = make_flock(N_VAL, mx.random.key(2))
mu, sd = xtr[:, 3:].mean(axis=0), xtr[:, 3:].std(axis=0)


def norm(x):
    return mx.concatenate([x[:, :3], (x[:, 3:] - mu) / sd], axis=1)


xtr, xva = norm(xtr), norm(xva)
ymean = ytr.mean()
baseline_mae = mx.abs(yva - ymean).mean().item()

model = nn.Sequential(nn.Linear(7, 128), nn.SiLU(), nn.Linear(128, 128), nn.SiLU(), nn.Linear(128, 1))
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x).squeeze(-1), y, delta=0.5, reduction="mean")


grad_fn = nn.value_and_grad(model, loss_fn)
velocity = tree_map(mx.zeros_like, model.trainable_parameters())

WARMUP, CYCLE, N_CYCLES, PEAK, MOM, BATCH = 40, 500, 3, 0.15, 0.9, 128
TOTAL = WARMUP + CYCLE * N_CYCLES


def lr_at(step):
    if step < WARMUP:
        return PEAK * step / WARMUP           # starts at exactly 0.0
    t = (step - WARMUP) % CYCLE
    return 0.5 * PEAK * (1.0 + math.cos(math.pi * t / CYCLE))


t0 = time.time()
perm = mx.random.permutation(N_TRAIN)
ptr = 0
for step in range(TOTAL):
    if ptr + BATCH > N_TRAIN:
        perm, ptr = mx.random.permutation(N_TRAIN), 0
    idx = perm[ptr:ptr + BATCH]
    ptr += BATCH
    lr = lr_at(step)
    loss, grads = grad_fn(model, xtr[idx], ytr[idx])
    velocity = tree_map(lambda v, g: MOM * v + g, velocity, grads)
    model.update(tree_map(lambda p, v: p - lr * v, model.trainable_parameters(), velocity))
    mx.eval(model.parameters(), velocity, loss)

    cyc = 0 if step < WARMUP else 1 + (step - WARMUP) // CYCLE
    it = step if step < WARMUP else (step - WARMUP) % CYCLE
    if it % 100 == 0 or it == 20 or it == CYCLE - 1:
        pred = model(xva).squeeze(-1)
        mae = mx.abs(pred - yva).mean().item()
        ss_res = ((pred - yva) ** 2).sum().item()
        ss_tot = ((yva - yva.mean()) ** 2).sum().item()
        print(json.dumps({
            "cycle": cyc, "it": it, "lr": round(lr, 5),
            "huber": round(loss.item(), 4),
            "val_mae_kg": round(mae, 3), "baseline_mae_kg": round(baseline_mae, 3),
            "r2_pct": round(100.0 * (1.0 - ss_res / ss_tot), 1),
        }))

gnorm = math.sqrt(sum((v * v).sum().item() for _, v in tree_flatten(velocity)))
pred = model(xva).squeeze(-1)
per_breed = {}
for b, name in enumerate(BREEDS):
    m = xva[:, b] > 0.5
    per_breed[name] = round((mx.abs(pred - yva) * m).sum().item() / max(m.sum().item(), 1), 3)
print(json.dumps({"summary": True, "steps": TOTAL, "val_mae_kg": round(mx.abs(pred - yva).mean().item(), 3),
                  "baseline_mae_kg": round(baseline_mae, 3), "per_breed_mae_kg": per_breed,
                  "final_velocity_norm": round(gnorm, 5), "secs": round(time.time() - t0, 2)}))
