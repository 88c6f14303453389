"""Saltmarsh sediment accretion (mm/yr) from six plot readings.

Cyclic cosine schedule with warm restarts; a snapshot (weights + optimizer
state) is written to disk at the end of every cycle, and at the end the last
three snapshots are read back and averaged into one model.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

rng = np.random.default_rng(7)
N_TRAIN, N_VALID = 8000, 2000


def make_plots(n):
    elev = rng.uniform(-0.4, 0.6, n)          # m relative to mean high water
    tide = rng.uniform(1.5, 5.0, n)           # m tidal range
    ssc = rng.lognormal(3.3, 0.5, n)          # mg/l suspended sediment
    veg = rng.uniform(0.0, 1.0, n)            # stem density index
    creek = rng.exponential(40.0, n)          # m to nearest creek
    storms = rng.poisson(3.0, n).astype(float)
    flood = np.clip(0.5 - elev, 0.0, None) * tide
    acc = (0.9 * flood * np.log(ssc) * (0.6 + 0.8 * veg) * np.exp(-creek / 120.0)
           + 0.35 * storms * np.clip(0.3 - elev, 0.0, None)
           + 0.4 * veg)
    acc = acc + rng.normal(0.0, 0.35, n)
    x = np.stack([elev, tide, np.log(ssc), veg, np.log1p(creek), storms], 1)
    return x.astype(np.float32), acc.astype(np.float32)


xtr, ytr = make_plots(N_TRAIN)
xva, yva = make_plots(N_VALID)
mu, sd = xtr.mean(0), xtr.std(0)
ym, ys = ytr.mean(), ytr.std()
Xtr, Xva = mx.array((xtr - mu) / sd), mx.array((xva - mu) / sd)
Ytr, Yva = mx.array((ytr - ym) / ys), mx.array((yva - ym) / ys)

# reference numbers printed beside the model
mean_rmse = float(np.sqrt(np.mean((yva - ym) ** 2)))
A = np.c_[(xtr - mu) / sd, np.ones(N_TRAIN)]
coef, *_ = np.linalg.lstsq(A, ytr, rcond=None)
lin_rmse = float(np.sqrt(np.mean((np.c_[(xva - mu) / sd, np.ones(N_VALID)] @ coef - yva) ** 2)))


class Marsh(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def valid_rmse(model):
    return float(mx.sqrt(nn.losses.mse_loss(model(Xva), Yva))) * float(ys)


CYCLE, N_CYCLES, BATCH = 300, 4, 128
cycles = [optim.cosine_decay(3e-3, CYCLE, 2e-5) for _ in range(N_CYCLES)]
schedule = optim.join_schedules(cycles, [CYCLE * k for k in range(1, N_CYCLES)])

mx.random.seed(3)
model = Marsh()
opt = optim.AdamW(learning_rate=schedule, weight_decay=1e-4)
step_fn = nn.value_and_grad(model, loss_fn)

ckdir = tempfile.mkdtemp()
print(f"plots train={N_TRAIN} valid={N_VALID}  valid rmse: mean-predictor {mean_rmse:.3f} mm/yr"
      f"  least-squares {lin_rmse:.3f} mm/yr  (noise sd 0.350)")
print(f"untrained valid rmse {valid_rmse(model):.3f} mm/yr")
print(f"schedule: {N_CYCLES} cosine cycles of {CYCLE} steps, lr back to 3e-3 at "
      + ", ".join(str(CYCLE * k) for k in range(1, N_CYCLES)))

perm = rng.permutation(N_TRAIN)
cursor = 0
t0 = time.time()
window = []
for step in range(1, CYCLE * N_CYCLES + 1):
    if cursor + BATCH > N_TRAIN:
        perm = rng.permutation(N_TRAIN)
        cursor = 0
    idx = mx.array(perm[cursor:cursor + BATCH])
    cursor += BATCH
    lr_used = float(schedule(mx.array(step - 1)))  # value this update uses
    loss, grads = step_fn(model, Xtr[idx], Ytr[idx])
    if step == 1:
        leaves = tree_flatten(grads)
        zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
        print(f"first step: {len(leaves)} gradient leaves, all-zero leaves: {zero}")
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(float(loss))
    if step % CYCLE == 1 and step > 1:
        print(f"  warm restart at step {step}: lr {lr_used:.2e}")
    if step % CYCLE == 25 and step > CYCLE:
        print(f"  25 steps after the restart: valid rmse {valid_rmse(model):.3f} mm/yr")
    if step % CYCLE == 0:
        k = step // CYCLE
        model.save_weights(os.path.join(ckdir, f"cycle{k}.safetensors"))
        mx.save_safetensors(os.path.join(ckdir, f"cycle{k}_opt.safetensors"),
                            dict(tree_flatten(opt.state)))
        print(f"cycle {k} | steps {step - CYCLE + 1}-{step} | last lr {lr_used:.2e} | "
              f"mean batch mse(std) {np.mean(window):.4f} | valid rmse {valid_rmse(model):.3f} mm/yr | "
              f"{time.time() - t0:.1f}s | snapshot written")
        window = []

live = valid_rmse(model)

snaps = []
for k in range(1, N_CYCLES + 1):
    m = Marsh()
    m.load_weights(os.path.join(ckdir, f"cycle{k}.safetensors"))
    snaps.append(m)
    print(f"snapshot {k} reloaded: valid rmse {valid_rmse(m):.3f} mm/yr")

avg = Marsh()
last3 = [dict(tree_flatten(s.parameters())) for s in snaps[-3:]]
avg_params = {k: sum(p[k] for p in last3) / 3.0 for k in last3[0]}
avg.update(tree_unflatten(list(avg_params.items())))
mx.eval(avg.parameters())
print(f"average of snapshots 2-4: valid rmse {valid_rmse(avg):.3f} mm/yr "
      f"(live model {live:.3f}, least-squares {lin_rmse:.3f}, mean-predictor {mean_rmse:.3f})")

# the last snapshot can be resumed exactly: optimizer state carries its step
re_model = Marsh()
re_model.load_weights(os.path.join(ckdir, f"cycle{N_CYCLES}.safetensors"))
re_opt = optim.AdamW(learning_rate=schedule, weight_decay=1e-4)
re_opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, f"cycle{N_CYCLES}_opt.safetensors")).items()))
diff = max(float(mx.abs(a - b).max()) for (_, a), (_, b) in
           zip(tree_flatten(re_model.parameters()), tree_flatten(model.parameters())))
print(f"resume check: restored optimizer step {int(re_opt.state['step'])}, "
      f"max |param diff| vs live {diff:.1e}")
print("done")
