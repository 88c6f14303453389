# Harpsichord quill voicing: predict pluck loudness (dB SPL) of a jack from
# six plectrum measurements. Data-parallel style step via mx.distributed
# (single process here), cosine schedule with warm restarts that re-warm from 0.
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

group = mx.distributed.init()
rank, world = group.rank(), group.size()
mx.random.seed(11 + rank)

# features: quill length (mm), thickness (mm), bevel angle (deg), overlap with string (mm),
# string gauge (mm), register (0 = 8', 1 = 4')
def make(n):
    k = mx.random.split(mx.random.key(n + 3), 2)
    u = mx.random.uniform(shape=(n, 6), key=k[0])
    length = 3.0 + 3.0 * u[:, 0]
    thick = 0.2 + 0.3 * u[:, 1]
    bevel = 10 + 35 * u[:, 2]
    overlap = 0.5 + 1.5 * u[:, 3]
    gauge = 0.2 + 0.4 * u[:, 4]
    reg = (u[:, 5] > 0.6).astype(mx.float32)
    stiff = thick**3 / length**3 * 1e3
    db = (62 + 6 * mx.log(stiff + 0.05) + 4.0 * overlap * mx.cos(bevel * math.pi / 180)
          + 9 * gauge - 5 * reg + 0.8 * mx.random.normal((n,), key=k[1]))
    X = mx.stack([length, thick, bevel, overlap, gauge, reg], axis=1)
    return X, db

Xtr, ytr = make(3000)
Xva, yva = make(600)
mu, sd = Xtr.mean(0), Xtr.std(0)
ym, ys = ytr.mean(), ytr.std()
norm = lambda X: (X - mu) / sd

model = nn.Sequential(nn.Linear(6, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))
opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)

def loss_fn(m, X, y):
    return nn.losses.huber_loss(m(norm(X)).squeeze(-1), (y - ym) / ys, delta=1.0, reduction="mean")

vg = nn.value_and_grad(model, loss_fn)

def all_reduce(grads):
    return tree_map(lambda g: mx.distributed.all_sum(g, group=group) / world, grads)

cycles = [150, 300, 600]         # each cycle: 10 % linear warm-up from lr=0, then cosine down
peak = [3e-3, 2e-3, 1e-3]
bs = 96
step = 0
t0 = time.time()
print(json.dumps({"event": "start", "rank": rank, "world": world, "n_train": int(Xtr.shape[0]),
                  "target_std_db": round(ys.item(), 3)}))
for c, (L, lr_max) in enumerate(zip(cycles, peak)):
    warm = L // 10
    for t in range(L):
        lr = lr_max * t / warm if t < warm else 0.5 * lr_max * (1 + math.cos(math.pi * (t - warm) / (L - warm)))
        opt.learning_rate = lr
        idx = mx.random.randint(0, Xtr.shape[0], (bs,))
        loss, grads = vg(model, Xtr[idx], ytr[idx])
        grads = all_reduce(grads)
        if step == 0:
            zero = [k for k, g in tree_flatten(grads) if mx.abs(g).max().item() == 0]
            print(json.dumps({"event": "grad_check", "params": len(tree_flatten(grads)), "all_zero": zero}))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        if t % 50 == 0 or t == L - 1:
            pred = model(norm(Xva)).squeeze(-1) * ys + ym
            rmse = mx.sqrt(mx.mean((pred - yva) ** 2)).item()
            print(json.dumps({"cycle": c, "t": t, "step": step, "lr": round(lr, 6),
                              "huber": round(loss.item(), 5), "val_rmse_db": round(rmse, 3),
                              "noise_floor_db": 0.8}))
pred = model(norm(Xva)).squeeze(-1) * ys + ym
r2 = 1 - mx.sum((pred - yva) ** 2) / mx.sum((yva - yva.mean()) ** 2)
print(json.dumps({"event": "done", "steps": step, "val_r2": round(r2.item(), 4),
                  "seconds": round(time.time() - t0, 2)}))
