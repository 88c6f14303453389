"""Tram stopping distance model: LR range test, then SGDR training from fresh weights."""
import math, time, sys
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)

def make_data(n):
    speed = rng.uniform(10, 70, n)          # km/h
    grade = rng.uniform(-4, 4, n)           # percent, + uphill
    wet = rng.integers(0, 2, n).astype(np.float64)
    load = rng.uniform(0.1, 1.0, n)         # share of capacity
    wear = rng.uniform(0, 1, n)             # pad wear
    v = speed / 3.6
    decel = 1.3 * (1 - 0.35 * wet) * (1 - 0.25 * wear) * (1 - 0.08 * load) + 0.098 * grade
    dist = v * 0.9 + v * v / (2 * decel) + rng.normal(0, 1.5, n)
    X = np.stack([speed, grade, wet, load, wear], 1)
    return X.astype(np.float32), dist.astype(np.float32)

Xtr, ytr = make_data(12000)
Xva, yva = make_data(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
def prep(X, y):
    return mx.array((X - mu) / sd), mx.array(((y - ymu) / ysd)[:, None])
Xtr_m, ytr_m = prep(Xtr, ytr)
Xva_m, yva_m = prep(Xva, yva)

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(5, 64)
        self.mid = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)
    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.mid(h))
        return self.out(h)

def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)

def val_rmse_m(model):
    pred = model(Xva_m)
    return float(mx.sqrt(mx.mean((pred - yva_m) ** 2)).item()) * float(ysd)

BS = 128
def batches(n_steps, seed):
    r = np.random.default_rng(seed)
    perm, cur = r.permutation(len(Xtr)), 0
    for _ in range(n_steps):
        if cur + BS > len(perm):
            perm, cur = r.permutation(len(Xtr)), 0
        idx = mx.array(perm[cur:cur + BS]); cur += BS
        yield Xtr_m[idx], ytr_m[idx]

print("step\tphase\tlr\ttrain_mse_std\tval_rmse_m\tsecs")
t0 = time.time()

# ---- phase 1: LR range test (exponential sweep; blows up at the end on purpose) ----
mx.random.seed(1)
probe = Net(); mx.eval(probe.parameters())
lo, hi, n_sweep = 1e-4, 3.0, 200
sweep_opt = optim.SGD(learning_rate=lo, momentum=0.9)
vg = nn.value_and_grad(probe, loss_fn)
best, best_lr, smooth, history = float("inf"), None, None, []
for i, (xb, yb) in enumerate(batches(n_sweep, 11)):
    lr = lo * (hi / lo) ** (i / (n_sweep - 1))
    sweep_opt.learning_rate = lr
    loss, g = vg(probe, xb, yb)
    sweep_opt.update(probe, g)
    mx.eval(probe.parameters(), sweep_opt.state, loss)
    l = loss.item()
    smooth = l if smooth is None else 0.9 * smooth + 0.1 * l
    history.append((lr, smooth))
    if smooth < best:
        best, best_lr = smooth, lr
    if i % 25 == 0:
        print(f"{i}\trange\t{lr:.2e}\t{smooth:.4f}\t-\t{time.time()-t0:.1f}")
    if not math.isfinite(l) or smooth > 4 * best:
        print(f"{i}\trange\t{lr:.2e}\t{smooth if math.isfinite(smooth) else float('nan'):.4f}\t-\t{time.time()-t0:.1f}\t# sweep stopped: loss diverged (expected)")
        break
lr_max = best_lr / 10
print(f"# range test: lowest smoothed loss {best:.4f} at lr {best_lr:.2e}; using lr_max = {lr_max:.2e}")
del probe, sweep_opt

# ---- phase 2: real training from fresh weights with SGDR ----
mx.random.seed(2)
model = Net(); mx.eval(model.parameters())
T0, TMULT, LR_MIN = 300, 2, 1e-4
def sgdr(step):
    t, T = step, T0
    while t >= T:
        t -= T; T *= TMULT
    return LR_MIN + 0.5 * (lr_max - LR_MIN) * (1 + math.cos(math.pi * t / T))

opt = optim.SGD(learning_rate=sgdr(0), momentum=0.9)
vg = nn.value_and_grad(model, loss_fn)
print(f"0\ttrain\t-\t-\t{val_rmse_m(model):.3f}\t{time.time()-t0:.1f}\t# untrained; predict-mean rmse {float(ysd):.3f}")
TOTAL = T0 * (1 + 2 + 4)     # three cycles: 300, 600, 1200
win = []
for step, (xb, yb) in enumerate(batches(TOTAL, 22)):
    opt.learning_rate = sgdr(step)
    loss, g = vg(model, xb, yb)
    if step == 0:
        leaves = tree_flatten(g)
        zero = [k for k, v in leaves if float(mx.abs(v).max().item()) == 0.0]
        print(f"# first-step gradients: {len(leaves)} leaves, zero leaves: {zero or 'none'}")
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    win.append(loss.item())
    s = step + 1
    restart = s in (T0, T0 * 3)
    if s % 150 == 0 or restart:
        note = "\t# warm restart next step: lr back to max" if restart else ""
        print(f"{s}\ttrain\t{sgdr(step):.2e}\t{np.mean(win):.4f}\t{val_rmse_m(model):.3f}\t{time.time()-t0:.1f}{note}")
        win = []
print(f"# done: val rmse {val_rmse_m(model):.3f} m (noise floor 1.5 m), {TOTAL} steps")
