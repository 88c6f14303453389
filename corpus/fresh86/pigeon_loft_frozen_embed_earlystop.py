# Racing pigeons: predict homing speed (m/min) from loft + race-day conditions.
# Loft identity goes through an embedding table built from the lofts' known
# descriptors (latitude, altitude, loft size, ...) and kept FIXED; only the MLP trains.
# Small data set + wide net -> overfits; early stopping restores the best weights.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)
N_LOFTS, D_LOFT = 30, 6
loft_desc = rng.normal(size=(N_LOFTS, D_LOFT)).astype(np.float32)
loft_effect = loft_desc @ rng.normal(size=D_LOFT) * 25.0

def make(n):
    loft = rng.integers(0, N_LOFTS, size=n)
    wind_head = rng.normal(size=n)          # headwind component, std units
    temp = rng.normal(size=n)
    dist = rng.uniform(-1, 1, size=n)       # race distance, scaled
    rain = (rng.random(n) < 0.2).astype(np.float32)
    speed = (1250 + loft_effect[loft] - 90 * wind_head - 30 * temp ** 2
             - 40 * dist + 20 * dist * wind_head - 70 * rain + rng.normal(0, 35, n))
    x = np.stack([wind_head, temp, dist, rain], 1).astype(np.float32)
    return loft.astype(np.int32), x, speed.astype(np.float32)

l_tr, x_tr, y_tr = make(600)
l_va, x_va, y_va = make(1500)
mu, sd = y_tr.mean(), y_tr.std()

class SpeedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.loft = nn.Embedding(N_LOFTS, D_LOFT)
        self.loft.weight = mx.array(loft_desc)       # known descriptors, fixed
        self.body = nn.Sequential(nn.Linear(D_LOFT + 4, 256), nn.ReLU(),
                                  nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 1))
    def __call__(self, loft, x):
        return self.body(mx.concatenate([self.loft(loft), x], axis=1)).squeeze(-1)

mx.random.seed(3)
net = SpeedNet()
net.loft.freeze()
opt = optim.Adam(learning_rate=3e-3)

def loss_fn(m, l, x, y):
    return nn.losses.mse_loss(m(l, x), (y - mu) / sd)

step = nn.value_and_grad(net, loss_fn)
Ltr, Xtr, Ytr = mx.array(l_tr), mx.array(x_tr), mx.array(y_tr)
Lva, Xva, Yva = mx.array(l_va), mx.array(x_va), mx.array(y_va)

def val_rmse():
    p = net(Lva, Xva) * sd + mu
    return float(mx.sqrt(mx.mean((p - Yva) ** 2)))

frozen_before = np.array(net.loft.weight)
print(f"lofts={N_LOFTS} train={len(y_tr)} val={len(y_va)} predict-mean rmse={np.std(y_va - mu):.1f} m/min noise=35.0")
print(f"trainable leaves={len(tree_flatten(net.trainable_parameters()))} (embedding table fixed)")
HDR = f"{'epoch':>5} {'train_mse':>10} {'val_rmse':>9} {'best':>7} {'wait':>4} {'sec':>6}"
best, best_w, wait, PATIENCE = val_rmse(), None, 0, 6
print(HDR)
print(f"{0:>5} {'-':>10} {best:>9.1f} {best:>7.1f} {0:>4} {0.0:>6.1f}")
t0 = time.time()
BS = 32
for epoch in range(1, 121):
    perm = rng.permutation(len(y_tr))
    tot, nb = 0.0, 0
    for i in range(0, len(perm), BS):
        idx = mx.array(perm[i:i + BS])
        loss, g = step(net, Ltr[idx], Xtr[idx], Ytr[idx])
        if epoch == 1 and i == 0:
            flat = tree_flatten(g)
            zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
            print(f"# first step: {len(flat)} gradient leaves, zero: {zero}")
        opt.update(net, g)
        mx.eval(net.parameters(), opt.state, loss)
        tot += loss.item(); nb += 1
    v = val_rmse()
    if v < best:
        best, wait = v, 0
        best_w = tree_map(lambda a: mx.array(np.array(a)), net.trainable_parameters())
    else:
        wait += 1
    if epoch % 10 == 0:
        print(HDR)
    print(f"{epoch:>5} {tot / nb:>10.4f} {v:>9.1f} {best:>7.1f} {wait:>4} {time.time() - t0:>6.1f}")
    if wait >= PATIENCE:
        print(f"# early stop at epoch {epoch}: no val improvement for {PATIENCE} epochs")
        break

net.update(best_w)
mx.eval(net.parameters())
drift = float(np.abs(np.array(net.loft.weight) - frozen_before).max())
print(f"# restored best weights: val rmse {val_rmse():.1f} m/min (last epoch {v:.1f}); embedding max drift {drift}")
