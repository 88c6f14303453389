# Ceramic firing shrinkage (%) from clay body + kiln schedule, 5-fold cross-validation.
# Each fold trains a fresh DropConnect MLP (random weight masks while training, full
# weights at evaluation) with AdaDelta; masks come from explicit PRNG keys.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

FEATURES = ["kaolin", "ball_clay", "feldspar", "silica", "water_pct",
            "peak_c", "soak_min", "ramp_c_per_h"]


def make_batches(n_rows, seed):
    r = np.random.default_rng(seed)
    kaolin = r.uniform(0.15, 0.45, n_rows)
    ball = r.uniform(0.10, 0.35, n_rows)
    feld = r.uniform(0.15, 0.35, n_rows)
    silica = 1.0 - kaolin - ball - feld + r.normal(0, 0.02, n_rows)
    water = r.uniform(18, 30, n_rows)
    peak = r.uniform(1150, 1300, n_rows)
    soak = r.uniform(0, 40, n_rows)
    ramp = r.uniform(60, 200, n_rows)
    # made-up shrinkage law: drying shrinkage from water and plastic clays, firing
    # shrinkage saturating with heat-work, fluxing by feldspar, silica restrains it
    heat_work = (peak - 1150) / 150 + 0.3 * np.log1p(soak / 10) - 0.15 * (ramp - 60) / 140
    drying = 0.18 * (water - 18) + 4.0 * ball + 2.0 * kaolin
    firing = 6.0 * (1 - np.exp(-1.6 * np.clip(heat_work, 0, None))) * (0.6 + feld) - 3.0 * silica
    y = 3.0 + drying + firing + r.normal(0, 0.25, n_rows)
    X = np.stack([kaolin, ball, feld, silica, water, peak, soak, ramp], 1)
    return X.astype(np.float32), y.astype(np.float32)


class DropConnectLinear(nn.Module):
    def __init__(self, d_in, d_out, keep=0.85):
        super().__init__()
        bound = 1.0 / math.sqrt(d_in)
        self.weight = mx.random.uniform(-bound, bound, (d_out, d_in))
        self.bias = mx.zeros((d_out,))
        self.keep = keep

    def __call__(self, x, key=None):
        w = self.weight
        if self.training and self.keep < 1.0:
            m = mx.random.bernoulli(self.keep, w.shape, key=key)
            w = mx.where(m, w / self.keep, 0.0)
        return x @ w.T + self.bias


class ShrinkNet(nn.Module):
    def __init__(self, d_in, hidden=64):
        super().__init__()
        self.layers = [DropConnectLinear(d_in, hidden), DropConnectLinear(hidden, hidden),
                       DropConnectLinear(hidden, 1, keep=1.0)]

    def __call__(self, x, key=None):
        keys = mx.random.split(key, 2) if key is not None else [None, None]
        h = nn.silu(self.layers[0](x, keys[0]))
        h = nn.silu(self.layers[1](h, keys[1]))
        return self.layers[2](h)[:, 0]


def loss_fn(model, x, y, key):
    return nn.losses.huber_loss(model(x, key), y, delta=1.0, reduction="mean")


def mape(model, x, y):
    model.eval()
    pred = model(x)
    model.train()
    return 100.0 * mx.mean(mx.abs(pred - y) / y).item()


X, Y = make_batches(6000, seed=11)
K, EPOCHS, BATCH = 5, 30, 64
fold_of = np.random.default_rng(3).permutation(len(Y)) % K
print(f"{len(Y)} firings, {len(FEATURES)} inputs, shrinkage {Y.min():.1f}..{Y.max():.1f} % "
      f"(mean {Y.mean():.2f}); {K} folds; predicting the mean gives "
      f"MAPE {100 * np.mean(np.abs(Y.mean() - Y) / Y):.1f}%")

results = []
t_all = time.perf_counter()
for fold in range(K):
    tr, va = np.where(fold_of != fold)[0], np.where(fold_of == fold)[0]
    mu, sd = X[tr].mean(0), X[tr].std(0)
    xtr, ytr = mx.array((X[tr] - mu) / sd), mx.array(Y[tr])
    xva, yva = mx.array((X[va] - mu) / sd), mx.array(Y[va])

    mx.random.seed(100 + fold)
    model = ShrinkNet(len(FEATURES))
    model.train()
    opt = optim.AdaDelta(learning_rate=1.0, rho=0.95, eps=1e-6)
    step_fn = nn.value_and_grad(model, loss_fn)
    key = mx.random.key(1000 + fold)
    mx.eval(model.parameters())

    print(f"fold {fold + 1}/{K} · {len(tr)} train / {len(va)} held out · "
          f"untrained MAPE {mape(model, xva, yva):.1f}%")
    t0 = time.perf_counter()
    order_rng = np.random.default_rng(fold)
    n_batches = len(tr) // BATCH
    for epoch in range(1, EPOCHS + 1):
        perm = mx.array(order_rng.permutation(len(tr)).astype(np.int32))
        run = 0.0
        for b in range(n_batches):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            key, sub = mx.random.split(key)
            loss, grads = step_fn(model, xtr[idx], ytr[idx], sub)
            if epoch == 1 and b == 0:
                flat = tree_flatten(grads)
                dead = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
                print(f"fold {fold + 1}/{K} · first step · {len(flat)} gradient leaves · "
                      f"all-zero leaves: {dead if dead else 'none'}")
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        if epoch in (1, 2, 5) or epoch % 10 == 0:
            print(f"fold {fold + 1}/{K} · epoch {epoch:2d} · train huber {run / n_batches:.4f} · "
                  f"held-out MAPE {mape(model, xva, yva):.2f}% · {time.perf_counter() - t0:.1f}s")
    results.append(mape(model, xva, yva))

print("per-fold held-out MAPE: " + ", ".join(f"{m:.2f}%" for m in results))
print(f"cross-validated MAPE {np.mean(results):.2f}% ± {np.std(results):.2f} "
      f"(noise floor about {100 * np.mean(0.25 * math.sqrt(2 / math.pi) / Y):.2f}%) · "
      f"{time.perf_counter() - t_all:.1f}s total")
