# Piezo inkjet printhead: predict drop velocity (m/s) from the drive waveform and ink.
# Data-parallel style step (mx.distributed, works with a single process too),
# lr warmup from exactly 0 followed by cosine cycles with warm restarts.
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

group = mx.distributed.init()
rank, world = group.rank(), group.size()

rng = np.random.default_rng(11 + rank)
N = 4200
volt = rng.uniform(14, 32, N)          # V
dwell = rng.uniform(2.0, 9.0, N)       # us
visc = rng.uniform(4.0, 18.0, N)       # cP
temp = rng.uniform(22, 55, N)          # C
nozzle = rng.uniform(18, 40, N)        # um
freq = rng.uniform(1.0, 30.0, N)       # kHz
# made-up law: velocity grows with voltage, peaks at a resonant dwell, drops with viscosity
res = 1.0 + 0.35 * np.cos((dwell - 4.5) * 0.9)
eff_visc = visc * np.exp(-0.018 * (temp - 25))
v = 0.42 * (volt - 12) * res / np.sqrt(eff_visc) * (nozzle / 28) ** 0.5 - 0.03 * freq
v = v + rng.normal(0, 0.12, N)
X = np.stack([volt, dwell, visc, temp, nozzle, freq], 1).astype(np.float32)
y = v.astype(np.float32)[:, None]
mu, sd = X[:3400].mean(0), X[:3400].std(0)
X = (X - mu) / sd
Xtr, ytr = mx.array(X[:3400]), mx.array(y[:3400])
Xva, yva = mx.array(X[3400:]), mx.array(y[3400:])
baseline_rmse = float(np.sqrt(((y[3400:] - y[:3400].mean()) ** 2).mean()))


class DropNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.out(h)


mx.random.seed(5)
model = DropNet()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=0.0)


def loss_fn(m, xb, yb):
    return nn.losses.mse_loss(m(xb), yb)


loss_and_grad = nn.value_and_grad(model, loss_fn)

PEAK, WARM, CYCLE, EPOCHS, BS = 4e-3, 60, 9, 27, 100
steps_per_epoch = Xtr.shape[0] // BS


def lr_at(step):
    if step < WARM:
        return PEAK * step / WARM          # step 0 -> exactly 0.0
    s = (step - WARM) % (CYCLE * steps_per_epoch)
    return 1e-5 + 0.5 * (PEAK - 1e-5) * (1 + math.cos(math.pi * s / (CYCLE * steps_per_epoch)))


# audit: every parameter tensor must receive a gradient
_, g0 = loss_and_grad(model, Xtr[:256], ytr[:256])
gn = {k: float(mx.sqrt((v * v).sum())) for k, v in tree_flatten(g0)}
print(json.dumps({"audit": "grad_norms", "min": round(min(gn.values()), 6),
                  "n_tensors": len(gn), "all_nonzero": all(x > 0 for x in gn.values())}))

step = 0
t0 = time.time()
for epoch in range(EPOCHS):
    perm = mx.array(np.random.default_rng(epoch).permutation(Xtr.shape[0]))
    tot = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * BS:(i + 1) * BS]
        opt.learning_rate = lr_at(step)
        loss, grads = loss_and_grad(model, Xtr[idx], ytr[idx])
        grads = tree_map(lambda g: mx.distributed.all_sum(g, group=group) / world, grads)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        step += 1
    val_rmse = float(mx.sqrt(nn.losses.mse_loss(model(Xva), yva)))
    rec = {
        "epoch": epoch, "cycle": max(0, (step - WARM)) // (CYCLE * steps_per_epoch),
        "lr": round(float(opt.learning_rate), 7), "train_mse": round(tot / steps_per_epoch, 5),
        "val_rmse_mps": round(val_rmse, 4), "baseline_rmse_mps": round(baseline_rmse, 4),
        "rank": rank, "world": world,
    }
    print(json.dumps(rec))
print(json.dumps({"done": True, "steps": step, "seconds": round(time.time() - t0, 1),
                  "final_val_rmse_mps": round(val_rmse, 4),
                  "skill_vs_baseline_pct": round(100 * (1 - val_rmse / baseline_rmse), 1)}))
