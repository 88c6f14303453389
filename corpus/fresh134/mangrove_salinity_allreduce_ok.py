"""Mangrove seedling height growth (cm / 30 days) vs. porewater conditions.

Data-parallel recipe from the MLX distributed guide: every rank computes the
gradient on its shard, gradients are averaged with nn.average_gradients, and the
whole step is compiled.  Run with `mlx.launch -n 4 ...` on a cluster, or plainly
(one process) on a laptop.
"""
from functools import partial
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

world = mx.distributed.init()
rank, size = world.rank(), world.size()
mx.random.seed(7 + rank)

# ---- synthetic field plots: salinity (ppt), tidal inundation (h/day),
# porewater sulfide (mM), canopy gap (%), sediment N (mg/g), temperature (C)
N_PLOTS = 4096
def make_plots(n):
    sal = mx.random.uniform(5, 45, (n,))
    inund = mx.random.uniform(0, 14, (n,))
    sulf = mx.random.uniform(0, 3, (n,))
    gap = mx.random.uniform(0, 80, (n,))
    nitro = mx.random.uniform(0.2, 2.5, (n,))
    temp = mx.random.uniform(22, 34, (n,))
    growth = (6.0 - 0.004 * (sal - 18) ** 2 - 0.9 * sulf + 0.035 * gap
              + 1.4 * mx.log(nitro) - 0.02 * (inund - 6) ** 2
              - 0.05 * (temp - 29) ** 2)
    growth = growth + 0.3 * mx.random.normal((n,))
    X = mx.stack([(sal - 25) / 12, (inund - 7) / 4, (sulf - 1.5) / 0.9,
                  (gap - 40) / 23, (nitro - 1.35) / 0.66, (temp - 28) / 3.5], axis=1)
    return X, growth[:, None]

X_all, y_all = make_plots(N_PLOTS)
X_val, y_val = make_plots(256)
shard = slice(rank * (N_PLOTS // size), (rank + 1) * (N_PLOTS // size))
X_tr, y_tr = X_all[shard], y_all[shard]

model = nn.Sequential(nn.Linear(6, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU(), nn.Linear(48, 1))
optimizer = optim.SGD(learning_rate=0.02, momentum=0.9)

def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)

state = [model.state, optimizer.state]

@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    grads = nn.average_gradients(grads)
    optimizer.update(model, grads)
    return loss

BATCH = 64
t0 = time.time()
for epoch in range(1, 81):
    perm = mx.random.permutation(X_tr.shape[0])
    running, nb = 0.0, 0
    for i in range(0, X_tr.shape[0], BATCH):
        idx = perm[i:i + BATCH]
        loss = step(X_tr[idx], y_tr[idx])
        mx.eval(state, loss)
        running += loss.item()
        nb += 1
    val_mse = loss_fn(model, X_val, y_val).item()
    if rank == 0 and (epoch == 1 or epoch % 8 == 0):
        print(f"[rank {rank}/{size}] epoch {epoch:02d}  train_mse={running / nb:.4f}  "
              f"val_rmse={val_mse ** 0.5:.3f} cm  ({time.time() - t0:.1f}s)")

if rank == 0:
    print(f"done: val_rmse={loss_fn(model, X_val, y_val).item() ** 0.5:.3f} cm "
          f"(growth std {mx.std(y_val).item():.3f} cm)")
