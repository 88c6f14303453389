"""Thatched roof service life (years) from reed/roof features.
First a learning-rate range test (exponential sweep, diverges at the end on purpose),
then real training from fresh weights at a chosen lr."""
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
N, NV = 6000, 1500
pitch = rng.uniform(40, 60, N + NV)        # roof pitch deg
depth = rng.uniform(20, 45, N + NV)        # coat thickness cm
rain = rng.uniform(500, 1400, N + NV)      # mm / year
shade = rng.uniform(0, 1, N + NV)
water_reed = rng.integers(0, 2, N + NV).astype(float)
life = (0.45 * (pitch - 40) + 0.6 * depth - 0.012 * rain - 6 * shade ** 2
        + 8 * water_reed + 0.004 * (pitch - 50) * (depth - 30) * 3 + 20)
life = life + rng.normal(0, 1.5, N + NV)
X = np.stack([pitch, depth, rain, shade, water_reed], 1)
mu, sd = X[:N].mean(0), X[:N].std(0)
X = ((X - mu) / sd).astype(np.float32)
ymu, ysd = life[:N].mean(), life[:N].std()
Y = ((life - ymu) / ysd).astype(np.float32)[:, None]
Xtr, Ytr, Xva, Yva = mx.array(X[:N]), mx.array(Y[:N]), mx.array(X[N:]), mx.array(Y[N:])


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 256)
        self.l2 = nn.Linear(256, 256)
        self.out = nn.Linear(256, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def val_mae_years(model):
    return float(mx.mean(mx.abs(model(Xva) - Yva)).item() * ysd)


def batches(n, bs, seed):
    perm = np.random.default_rng(seed).permutation(n)
    for i in range(0, n - bs + 1, bs):
        yield mx.array(perm[i:i + bs])


print(f"reed data: {N} train / {NV} valid roofs, predict-mean MAE {np.mean(np.abs(life[N:] - ymu)):.2f} y")

# ---- phase 1: LR range test (loss explodes at the high end by design) ----
mx.random.seed(0)
probe = Net()
popt = optim.RMSprop(learning_rate=1e-5)
pvg = nn.value_and_grad(probe, loss_fn)
lrs = np.geomspace(1e-5, 3.0, 120)
smooth, best, curve = 0.0, float("inf"), []
it = batches(N, 64, 1)
for k, lr in enumerate(lrs):
    try:
        idx = next(it)
    except StopIteration:
        it = batches(N, 64, 100 + k); idx = next(it)
    popt.learning_rate = float(lr)
    l, g = pvg(probe, Xtr[idx], Ytr[idx])
    popt.update(probe, g)
    mx.eval(probe.parameters(), popt.state, l)
    lv = l.item()
    smooth = 0.9 * smooth + 0.1 * lv
    sm = smooth / (1 - 0.9 ** (k + 1))
    curve.append((lr, sm))
    best = min(best, sm)
    if k % 20 == 0 or not math.isfinite(sm) or sm > 4 * best:
        print(f"  range-test lr={lr:.2e} smoothed_loss={sm:.4f}")
    if not math.isfinite(sm) or sm > 4 * best:
        print(f"  range-test stopped at lr={lr:.2e} (loss blew up, as expected)")
        break
lr_min = min(curve, key=lambda t: t[1])[0]
chosen = lr_min / 10
print(f"range test: min smoothed loss at lr={lr_min:.2e}; training at lr={chosen:.2e}")

# ---- phase 2: real training from fresh weights ----
mx.random.seed(1)
model = Net()
opt = optim.RMSprop(learning_rate=chosen)
vg = nn.value_and_grad(model, loss_fn)
print(f"untrained valid MAE {val_mae_years(model):.2f} y")
t0 = time.time()
first = True
for ep in range(1, 13):
    tot, nb = 0.0, 0
    for idx in batches(N, 32, 1000 + ep):
        l, g = vg(model, Xtr[idx], Ytr[idx])
        if first:
            leaves = tree_flatten(g)
            zero = [p for p, v in leaves if float(mx.abs(v).max().item()) == 0.0]
            print(f"grad check: {len(leaves)} leaves, zero={zero}")
            first = False
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, l)
        tot += l.item(); nb += 1
    print(f"epoch {ep:2d}  train_mse(std) {tot / nb:.4f}  valid_MAE {val_mae_years(model):.2f} y  {time.time() - t0:.1f}s")
print(f"done: noise-floor MAE about {1.5 * math.sqrt(2 / math.pi):.2f} y")
