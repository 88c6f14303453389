"""Salt works: predict brine density (degrees Baume) in the crystallising pans.

Written for a multi-host run (gradients averaged with mx.distributed.all_sum),
launched here as a single process. Compiled step with explicit state,
loss shown as a bias-corrected EMA behind a '\r' progress bar.
"""
import sys, time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

group = mx.distributed.init()
rank, world = group.rank(), group.size()
rng = np.random.default_rng(860 + rank)

def pans(n):
    sun = rng.uniform(2, 12, n)          # sunshine hours
    wind = rng.uniform(0, 9, n)          # m/s
    rh = rng.uniform(35, 95, n)          # relative humidity %
    depth = rng.uniform(3, 20, n)        # brine depth cm
    days = rng.uniform(0, 20, n)         # days since flooding
    inflow = rng.uniform(3, 8, n)        # Baume of feed brine
    evap = (0.35 * sun + 0.25 * wind) * (1 - rh / 110)
    be = inflow + (25.6 - inflow) * (1 - np.exp(-evap * days / depth))
    be = np.minimum(be, 25.6 + 0.3 * np.tanh(days - 15)) + rng.normal(0, 0.25, n)
    X = np.stack([sun, wind, rh, np.log(depth), days, inflow], 1).astype(np.float32)
    return X, be.astype(np.float32)

Xtr, ytr = pans(10000)
Xte, yte = pans(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
ym, ys = float(ytr.mean()), float(ytr.std())
Xtr_m = mx.array((Xtr - mu) / sd); ytr_m = mx.array((ytr - ym) / ys)
Xte_m = mx.array((Xte - mu) / sd)

mx.random.seed(86)
model = nn.Sequential(nn.Linear(6, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 1))
mx.eval(model.parameters())
sched = optim.cosine_decay(2e-3, 3000, 2e-5)
opt = optim.Adam(learning_rate=sched)

def loss_fn(xb, yb):
    return nn.losses.mse_loss(model(xb).squeeze(-1), yb)

lvg = nn.value_and_grad(model, loss_fn)

def averaged_grads(xb, yb):
    loss, grads = lvg(xb, yb)
    grads = tree_map(lambda g: mx.distributed.all_sum(g, group=group) / world, grads)
    loss = mx.distributed.all_sum(loss, group=group) / world
    return loss, grads

state = [model.state, opt.state]

@partial(mx.compile, inputs=state, outputs=state)
def step(xb, yb):
    loss, grads = averaged_grads(xb, yb)
    opt.update(model, grads)
    return loss

def test_rmse():
    p = np.array(model(Xte_m).squeeze(-1)) * ys + ym
    return float(np.sqrt(np.mean((p - yte) ** 2)))

print(f"world={world} rank={rank}  pans train={len(Xtr)} test={len(Xte)}  "
      f"predict-mean RMSE={np.std(yte - ym):.3f} Be  untrained RMSE={test_rmse():.3f} Be")

# eager gradient audit before the compiled loop starts
xb0, yb0 = Xtr_m[:128], ytr_m[:128]
_, g0 = averaged_grads(xb0, yb0)
leaves = tree_flatten(g0)
print(f"gradient audit: {len(leaves)} leaves, zero-gradient leaves: "
      f"{[k for k, g in leaves if float(mx.abs(g).max()) == 0.0] or 'none'}")

B, total, width = 128, 3000, 30
ema, beta = 0.0, 0.98
t0 = time.time()
cursor, perm = 0, rng.permutation(len(Xtr))
for it in range(1, total + 1):
    if cursor + B > len(perm):
        perm, cursor = rng.permutation(len(Xtr)), 0
    idx = mx.array(perm[cursor:cursor + B]); cursor += B
    loss = step(Xtr_m[idx], ytr_m[idx])
    mx.eval(loss, state)
    ema = beta * ema + (1 - beta) * loss.item()
    shown = ema / (1 - beta ** it)      # bias-corrected
    if it % 25 == 0 or it == total:
        done = int(width * it / total)
        sys.stdout.write(f"\r[{'#' * done}{'.' * (width - done)}] {it}/{total} "
                         f"ema_mse(std)={shown:.4f} lr={sched(it).item():.1e}")
        sys.stdout.flush()
    if it % 1000 == 0:
        sys.stdout.write(f"\n  step {it}: test RMSE {test_rmse():.3f} Be, {time.time() - t0:.1f}s\n")
print(f"finished: test RMSE {test_rmse():.3f} Be (brine noise sd 0.25), {time.time() - t0:.1f}s")
