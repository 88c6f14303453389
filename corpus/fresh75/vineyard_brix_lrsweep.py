"""Vineyard: predict harvest sugar (deg Brix) of grape lots from weather/site features.
First an LR range test (exponential sweep; loss blows up at the end on purpose),
then the real run from fresh weights with a hand-written momentum SGD over tree_map,
early stopping that restores the best validation weights."""
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map, tree_flatten

rng = np.random.default_rng(11)

def make_lots(n):
    gdd = rng.uniform(1100, 2100, n)          # growing degree days
    rain = rng.gamma(3.0, 40.0, n)            # mm in ripening
    slope = rng.uniform(0, 25, n)             # degrees, south facing
    crop = rng.uniform(3, 12, n)              # t/ha yield
    age = rng.uniform(3, 60, n)               # vine age years
    brix = (14 + 8 * (1 - np.exp(-(gdd - 1000) / 500)) - 0.012 * rain + 0.08 * slope
            - 0.35 * (crop - 7) + 1.2 * np.log1p(age) / np.log(61) + rng.normal(0, 0.5, n))
    X = np.stack([gdd, rain, slope, crop, age], 1)
    return X.astype(np.float32), brix.astype(np.float32)

Xtr, ytr = make_lots(24000)
Xva, yva = make_lots(1000)
mu, sd = Xtr.mean(0), Xtr.std(0)
ym, ys = ytr.mean(), ytr.std()
norm = lambda X: mx.array((X - mu) / sd)
Xtr_m, Xva_m = norm(Xtr), norm(Xva)
ytr_m, yva_m = mx.array((ytr - ym) / ys), mx.array((yva - ym) / ys)

class BrixNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 128)
        self.l2 = nn.Linear(128, 128)
        self.out = nn.Linear(128, 1)
    def __call__(self, x):
        h = nn.tanh(self.l1(x))
        h = nn.tanh(self.l2(h)) + h
        return self.out(h).squeeze(-1)

def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)

def fresh_model(seed):
    mx.random.seed(seed)
    m = BrixNet()
    mx.eval(m.parameters())
    return m

def sgd_momentum_step(model, vel, grads, lr, beta=0.9):
    vel = tree_map(lambda v, g: beta * v + g, vel, grads)
    model.update(tree_map(lambda p, v: p - lr * v, model.parameters(), vel))
    return vel

def val_rmse_brix(model):
    pred = model(Xva_m)
    return math.sqrt(mx.mean((pred - yva_m) ** 2).item()) * ys

BATCH = 64
t0 = time.time()
# ---------------- phase 1: LR range test ----------------
print("phase 1: learning-rate range test (weights are thrown away afterwards)")
model = fresh_model(0)
vag = nn.value_and_grad(model, loss_fn)
vel = tree_map(mx.zeros_like, model.parameters())
lr_lo, lr_hi, n_sweep = 1e-4, 10.0, 200
smooth, best_s, sweep = 0.0, float("inf"), []
for i in range(n_sweep):
    lr = lr_lo * (lr_hi / lr_lo) ** (i / (n_sweep - 1))
    idx = mx.array(rng.integers(0, len(ytr), BATCH))
    loss, grads = vag(model, Xtr_m[idx], ytr_m[idx])
    vel = sgd_momentum_step(model, vel, grads, lr)
    mx.eval(model.parameters(), vel, loss)
    l = loss.item()
    smooth = 0.9 * smooth + 0.1 * l if i else l
    sweep.append((lr, smooth))
    best_s = min(best_s, smooth)
    if i % 25 == 0 or not math.isfinite(l):
        print(f"  sweep {i:3d}  lr {lr:9.2e}  smoothed_mse {smooth:.4g}")
    if not math.isfinite(smooth) or smooth > 4 * best_s and i > 20:
        print(f"  sweep stopped at step {i}: lr {lr:.2e} loss {smooth:.4g} (diverging, as expected)")
        break
lr_at_min = min(sweep, key=lambda t: t[1])[0]
LR = lr_at_min / 10
print(f"  lr at min smoothed loss {lr_at_min:.3g} -> training lr {LR:.3g}")
del model, vel

# ---------------- phase 2: real training ----------------
print("phase 2: training from fresh weights")
model = fresh_model(1)
vag = nn.value_and_grad(model, loss_fn)
vel = tree_map(mx.zeros_like, model.parameters())
_, g0 = vag(model, Xtr_m[:BATCH], ytr_m[:BATCH])
nz = sum(1 for _, g in tree_flatten(g0) if mx.any(g != 0).item())
print(f"  grad check: {nz}/{len(tree_flatten(g0))} parameter tensors have a non-zero gradient")
print(f"  untrained val RMSE {val_rmse_brix(model):.3f} Brix (predict-the-mean: {yva.std():.3f})")

best, best_epoch, patience, bad = float("inf"), 0, 4, 0
best_params = None
n = len(ytr)
for epoch in range(1, 41):
    perm = mx.array(rng.permutation(n))
    tot = 0.0
    for s in range(0, n - BATCH + 1, BATCH):
        idx = perm[s:s + BATCH]
        loss, grads = vag(model, Xtr_m[idx], ytr_m[idx])
        vel = sgd_momentum_step(model, vel, grads, LR)
        mx.eval(model.parameters(), vel, loss)
        tot += loss.item()
    tr = tot / (n // BATCH)
    va = val_rmse_brix(model)
    mark = ""
    if va < best - 1e-4:
        best, best_epoch, bad = va, epoch, 0
        best_params = tree_map(lambda p: mx.array(p), model.parameters())
        mark = " *"
    else:
        bad += 1
    print(f"  epoch {epoch:2d}  train_mse(std units) {tr:.4f}  val_rmse {va:.3f} Brix{mark}")
    if bad >= patience:
        print(f"  early stop: no improvement for {patience} epochs")
        break
model.update(best_params)
print(f"restored epoch {best_epoch} weights: val RMSE {val_rmse_brix(model):.3f} Brix "
      f"(noise floor 0.5); {time.time() - t0:.1f}s total")
