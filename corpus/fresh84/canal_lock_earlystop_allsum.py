# Canal locks: minutes to fill a lock chamber from its geometry and the paddle settings.
# Single-process mx.distributed all_sum of gradients (world of 1), early stopping that
# restores the best weights seen on the validation split.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(7)

def make(n):
    length = rng.uniform(20, 80, n)       # m
    width = rng.uniform(2.1, 7.5, n)      # m
    rise = rng.uniform(0.8, 6.0, n)       # m
    paddles = rng.integers(1, 5, n).astype(np.float64)
    opening = rng.uniform(0.3, 1.0, n)    # fraction open
    upstream = rng.uniform(0.0, 1.5, n)   # m extra head
    area = length * width
    t = area * np.sqrt(rise + upstream) / (60.0 * paddles * opening * (0.8 + 0.2 * upstream))
    t = t + rng.normal(0, 0.4, n)
    X = np.stack([length, width, rise, paddles, opening, upstream], 1)
    return X.astype(np.float32), t.astype(np.float32)

Xtr, ytr = make(6000)
Xva, yva = make(1500)
mu, sd = Xtr.mean(0), Xtr.std(0)
ym, ys = ytr.mean(), ytr.std()
norm = lambda X: (X - mu) / sd
Xtr_m, Xva_m = mx.array(norm(Xtr)), mx.array(norm(Xva))
ytr_m, yva_m = mx.array((ytr - ym) / ys), mx.array((yva - ym) / ys)

group = mx.distributed.init()
print(f"world size {group.size()}, rank {group.rank()}; train {len(ytr)} locks, val {len(yva)}")

class FillNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)
    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)

mx.random.seed(3)
model = FillNet()
opt = optim.Adam(learning_rate=2e-3)

def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)

vg = nn.value_and_grad(model, loss_fn)

def val_mae_minutes():
    return float(mx.mean(mx.abs(model(Xva_m) - yva_m)).item() * ys)

print(f"untrained val MAE {val_mae_minutes():.3f} min; predict-mean MAE {np.abs(yva - ym).mean():.3f} min; noise floor ~{0.4*0.798:.3f} min")

B = 32
best, best_epoch, best_params, patience, bad = float("inf"), -1, None, 4, 0
t0 = time.time()
first = True
for epoch in range(1, 41):
    perm = rng.permutation(len(ytr))
    tot, nb = 0.0, 0
    for s in range(0, len(perm) - B + 1, B):
        idx = mx.array(perm[s:s + B])
        loss, grads = vg(model, Xtr_m[idx], ytr_m[idx])
        grads = tree_map(lambda g: mx.distributed.all_sum(g, group=group) / group.size(), grads)
        if first:
            flat = tree_flatten(grads)
            zero = [k for k, g in flat if float(mx.abs(g).max().item()) == 0.0]
            print(f"first step: {len(flat)} gradient leaves, zero leaves {zero}")
            first = False
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item(); nb += 1
    v = val_mae_minutes()
    mark = ""
    if v < best - 1e-4:
        best, best_epoch, bad = v, epoch, 0
        best_params = tree_map(lambda p: mx.array(p), model.parameters())
        mx.eval(best_params)
        mark = " *best"
    else:
        bad += 1
    print(f"epoch {epoch:2d}  train mse(std) {tot/nb:.4f}  val MAE {v:.3f} min  patience {bad}/{patience}{mark}  {time.time()-t0:.1f}s")
    if bad >= patience:
        print(f"early stop at epoch {epoch}")
        break

model.update(best_params)
mx.eval(model.parameters())
print(f"restored epoch {best_epoch} weights: val MAE {val_mae_minutes():.3f} min (best seen {best:.3f})")
