# Oyster farm: 90-day shell growth (mm) of spat from 6 site readings.
# First an LR range test (exponential sweep; loss blows up at the end by design),
# then the real run from fresh weights at a learning rate picked from the sweep.
import json, math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

def log(**kw):
    print(json.dumps(kw, sort_keys=False))

rng = np.random.default_rng(7)
def make(n):
    sal = rng.uniform(12, 34, n)          # salinity psu
    temp = rng.uniform(8, 26, n)          # water temp C
    chl = rng.gamma(2.0, 2.0, n)          # chlorophyll ug/L
    depth = rng.uniform(0.5, 4.0, n)      # bag depth m
    dens = rng.uniform(200, 1200, n)      # spat per bag
    flow = rng.uniform(0.05, 0.6, n)      # current m/s
    g = (14 + 0.9 * temp - 0.03 * (sal - 24) ** 2 + 6 * np.log1p(chl)
         - 1.2 * depth - 0.004 * dens + 8 * flow * np.exp(-flow) + 0.02 * temp * chl)
    y = g + rng.normal(0, 1.0, n)
    X = np.stack([sal, temp, chl, depth, dens, flow], 1)
    return X.astype(np.float32), y.astype(np.float32)

Xtr, ytr = make(12000); Xva, yva = make(2000)
mu, sd = Xtr.mean(0), Xtr.std(0); ym, ys = ytr.mean(), ytr.std()
Xtr = (Xtr - mu) / sd; Xva = (Xva - mu) / sd
Xtr_m, Xva_m = mx.array(Xtr), mx.array(Xva)
ytr_m, yva_m = mx.array((ytr - ym) / ys), mx.array((yva - ym) / ys)
log(event="data", train=len(Xtr), val=len(Xva), target_sd_mm=round(float(ys), 3), noise_sd_mm=1.0)

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(6, 64)
        self.mid = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)
    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = h + nn.gelu(self.mid(h))
        return self.out(h).squeeze(-1)

def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)

def val_rmse_mm(model):
    return float(mx.sqrt(mx.mean((model(Xva_m) - yva_m) ** 2))) * float(ys)

# ---- phase 1: LR range test on throwaway weights ----
mx.random.seed(1)
probe = Net()
opt = optim.Adam(learning_rate=1e-5)
vg = nn.value_and_grad(probe, loss_fn)
lo, hi, n_sweep, B = 1e-5, 1.0, 300, 64
smooth, best, sweep = 0.0, float("inf"), []
for i in range(n_sweep):
    lr = lo * (hi / lo) ** (i / (n_sweep - 1))
    opt.learning_rate = lr
    idx = mx.array(rng.integers(0, len(Xtr), B))
    loss, g = vg(probe, Xtr_m[idx], ytr_m[idx])
    opt.update(probe, g)
    mx.eval(probe.parameters(), opt.state, loss)
    l = float(loss)
    smooth = 0.9 * smooth + 0.1 * l
    sm = smooth / (1 - 0.9 ** (i + 1))
    sweep.append((lr, sm))
    best = min(best, sm)
    if i % 50 == 0 or i == n_sweep - 1:
        log(event="sweep", i=i, lr=float(f"{lr:.3e}"), smoothed_mse_std=round(sm, 4))
    if not math.isfinite(sm) or sm > 4 * best:
        log(event="sweep_stop", i=i, lr=float(f"{lr:.3e}"), smoothed_mse_std=sm if math.isfinite(sm) else str(sm), reason="loss blew up (expected at the end of a range test)")
        break
lr_min = min(sweep, key=lambda t: t[1])[0]
lr_use = min(lr_min / 10, 3e-3)
log(event="lr_pick", lr_at_min_loss=float(f"{lr_min:.3e}"), lr_used=float(f"{lr_use:.3e}"))
del probe, opt

# ---- phase 2: real training from fresh weights ----
mx.random.seed(2)
model = Net()
opt = optim.Adam(learning_rate=optim.cosine_decay(lr_use, 2400, lr_use * 0.02))
vg = nn.value_and_grad(model, loss_fn)
log(event="untrained", val_rmse_mm=round(val_rmse_mm(model), 3), predict_mean_rmse_mm=round(float(yva.std()), 3))

idx0 = mx.array(np.arange(128))
_, g0 = vg(model, Xtr_m[idx0], ytr_m[idx0])
leaves = tree_flatten(g0)
zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
log(event="grad_check", leaves=len(leaves), zero_leaves=zero)

t0 = time.time(); step = 0; window = []
perm = rng.permutation(len(Xtr)); cur = 0
for step in range(1, 2401):
    if cur + 128 > len(perm):
        perm = rng.permutation(len(Xtr)); cur = 0
    idx = mx.array(perm[cur:cur + 128]); cur += 128
    loss, g = vg(model, Xtr_m[idx], ytr_m[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(float(loss)); window = window[-100:]
    if step in (1, 50) or step % 400 == 0:
        log(event="train", step=step, lr=float(f"{float(opt.learning_rate):.3e}"),
            train_mse_std=round(sum(window) / len(window), 4),
            val_rmse_mm=round(val_rmse_mm(model), 3), secs=round(time.time() - t0, 1))
log(event="done", val_rmse_mm=round(val_rmse_mm(model), 3), noise_floor_mm=1.0)
