import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
def polar(n):
    twa = rng.uniform(30, 180, n)
    tws = rng.uniform(4, 26, n)
    heel = rng.uniform(0, 25, n)
    a = np.radians(twa)
    speed = (0.55 * tws ** 0.8) * np.sin(a) ** 0.6 * (1 + 0.25 * np.cos(a - 1.9)) - 0.03 * heel + rng.normal(0, 0.25, n)
    x = np.stack([np.sin(a), np.cos(a), tws / 26, heel / 25], 1).astype(np.float32)
    return x, speed.astype(np.float32)
xtr, ytr = polar(6000)
xte, yte = polar(1500)
mu, sd = ytr.mean(), ytr.std()
Xtr, Ytr = mx.array(xtr), mx.array((ytr - mu) / sd)
Xte = mx.array(xte)

mx.random.seed(5)
model = nn.Sequential(nn.Linear(4, 48), nn.Tanh(), nn.Linear(48, 48), nn.Tanh(), nn.Linear(48, 1))
mx.eval(model.parameters())
opt = optim.RMSprop(learning_rate=optim.step_decay(3e-3, 0.5, 600))

def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x).squeeze(-1), y)
step = nn.value_and_grad(model, loss_fn)

def flat():
    return np.concatenate([np.array(v).ravel() for _, v in tree_flatten(model.parameters())])
def knots_rmse():
    p = np.array(model(Xte).squeeze(-1)) * sd + mu
    return float(np.sqrt(np.mean((p - yte) ** 2)))

names = [k for k, _ in tree_flatten(model.parameters())]
shapes = [v.shape for _, v in tree_flatten(model.parameters())]
trail = [flat()]   # parameter snapshots kept for a trajectory plot
print(f"start: {trail[0].size} weights, test rmse {knots_rmse():.3f} kn, mean-speed baseline {float(np.std(yte)):.3f} kn")
report_at = {2 ** k for k in range(12)}
t0 = time.time()
total = 1800
for it in range(1, total + 1):
    idx = mx.array(rng.integers(0, len(xtr), 64))
    loss, g = step(model, Xtr[idx], Ytr[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 20 == 0:
        trail.append(flat())
    if it in report_at or it == total:
        mb = sum(s.nbytes for s in trail) / 2 ** 20
        dist = float(np.linalg.norm(trail[-1] - trail[0]))
        print(f"step {it:5d}  lr {float(opt.learning_rate):.2e}  batch mse {loss.item():.4f}  test rmse {knots_rmse():.3f} kn"
              f"  | trail {len(trail):3d} snaps {mb:.2f} MB  |w - w0| {dist:.2f}  ({time.time() - t0:.1f}s)")

T = np.stack(trail)
Tc = T - T.mean(0)
s = np.linalg.svd(Tc, compute_uv=False)
ev = s ** 2 / (s ** 2).sum()
print(f"trajectory PCA: PC1 {ev[0] * 100:.1f}%  PC2 {ev[1] * 100:.1f}%  PC1+PC2 {ev[:2].sum() * 100:.1f}%")
final = T[-1].copy()
def set_flat(v):
    out, o = [], 0
    for n, sh in zip(names, shapes):
        k = int(np.prod(sh))
        out.append((n, mx.array(v[o:o + k].reshape(sh))))
        o += k
    model.update(tree_unflatten(out))
print("linear path w0 -> w_end, full-train mse:")
for a in [0.0, 0.25, 0.5, 0.75, 1.0]:
    set_flat((1 - a) * T[0] + a * final)
    print(f"  alpha {a:.2f}  mse {loss_fn(model, Xtr, Ytr).item():.4f}")
set_flat(final)
print(f"done: test rmse {knots_rmse():.3f} kn (noise sd 0.25)")
