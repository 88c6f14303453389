# Saddlery workshop: how strong is a hand-stitched seam?
# Regress tear strength (N) of a saddle-skirt stitch line from 7 bench readings,
# 4-fold cross-validation, compiled train step, early stopping that puts back the
# best weights of each fold.
import logging
import sys
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(levelname)-5s %(name)s | %(message)s")
log = logging.getLogger("saddlery")

rng = np.random.default_rng(157)
N = 2400
thick = rng.uniform(2.5, 5.5, N)          # leather thickness, mm
spi = rng.uniform(5.0, 10.0, N)           # stitches per inch
gauge = rng.integers(0, 4, N)             # thread gauge code 0..3
wax = rng.uniform(0.0, 30.0, N)           # beeswax share of thread dressing, %
region = rng.integers(0, 3, N)            # 0 butt, 1 shoulder, 2 belly
tan_days = rng.uniform(20, 90, N)         # vegetable tanning days
humid = rng.uniform(30, 85, N)            # workshop humidity, %

# made-up seam law: thicker leather and heavier thread help, too many stitches
# perforate the hide, belly leather is weak, wax helps until it gets gummy
strength = (
    95.0 * thick
    + 38.0 * (gauge + 1)
    - 4.5 * (spi - 7.5) ** 2 * thick / 4.0
    + 2.2 * wax - 0.065 * wax ** 2
    - np.array([0.0, 35.0, 110.0])[region]
    + 0.9 * np.sqrt(tan_days) * 6.0
    - 0.012 * (humid - 50.0) ** 2
    + rng.normal(0.0, 18.0, N)
)
X = np.stack([thick, spi, gauge, wax, region == 1, region == 2, tan_days, humid], 1).astype(np.float32)
y = strength.astype(np.float32)

perm = rng.permutation(N)
folds = np.array_split(perm, 4)


class SeamNet(nn.Module):
    def __init__(self, d_in):
        super().__init__()
        self.fc1 = nn.Linear(d_in, 64)
        self.fc2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.fc1(x))
        h = nn.silu(self.fc2(h))
        return self.out(h).squeeze(-1)


def mse(model, xb, yb):
    return mx.mean((model(xb) - yb) ** 2)


def run_fold(k):
    te = folds[k]
    tr = np.concatenate([folds[j] for j in range(4) if j != k])
    mu, sd = X[tr].mean(0), X[tr].std(0) + 1e-6
    ym, ys = y[tr].mean(), y[tr].std()
    Xtr = mx.array((X[tr] - mu) / sd)
    ytr = mx.array((y[tr] - ym) / ys)
    Xte = mx.array((X[te] - mu) / sd)
    yte_n = y[te]

    mx.random.seed(100 + k)
    model = SeamNet(X.shape[1])
    opt = optim.Adagrad(learning_rate=0.05)
    loss_and_grad = nn.value_and_grad(model, mse)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, grads = loss_and_grad(model, xb, yb)
        opt.update(model, grads)
        return loss

    # one-off check that every weight gets a gradient
    _, g0 = loss_and_grad(model, Xtr[:64], ytr[:64])
    dead = [n for n, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
    log.info("fold %d: %d train / %d held out, zero-grad tensors: %s",
             k + 1, len(tr), len(te), dead or "none")

    base_mae = float(np.mean(np.abs(yte_n - ym)))
    best, best_mae, bad, patience = None, float("inf"), 0, 7
    n_tr = Xtr.shape[0]
    for epoch in range(1, 81):
        order = mx.array(np.random.default_rng(epoch * 31 + k).permutation(n_tr))
        tot = 0.0
        for i in range(0, n_tr, 64):
            idx = order[i:i + 64]
            loss = step(Xtr[idx], ytr[idx])
            mx.eval(state, loss)
            tot += loss.item() * idx.shape[0]
        pred = np.array(model(Xte)) * ys + ym
        mae = float(np.mean(np.abs(pred - yte_n)))
        within = 100.0 * float(np.mean(np.abs(pred - yte_n) < 25.0))
        if mae < best_mae - 0.05:
            best_mae, bad = mae, 0
            best = tree_map(lambda a: a, model.parameters())
            tag = "*"
        else:
            bad += 1
            tag = ""
        if epoch % 5 == 0 or epoch == 1 or tag == "*" and epoch < 4:
            log.info("  f%d ep %02d  train %.4f  held-out MAE %6.2f N (mean-guess %6.2f)  |err|<25N %5.1f%% %s",
                     k + 1, epoch, tot / n_tr, mae, base_mae, within, tag)
        if bad >= patience:
            log.warning("  f%d stop at ep %d, %d epochs without gain; restoring best", k + 1, epoch, bad)
            break
    model.update(best)
    mx.eval(model.parameters())
    pred = np.array(model(Xte)) * ys + ym
    mae = float(np.mean(np.abs(pred - yte_n)))
    r2 = 1.0 - float(np.sum((pred - yte_n) ** 2) / np.sum((yte_n - yte_n.mean()) ** 2))
    log.info("fold %d restored: MAE %.2f N, R2 %.3f, baseline MAE %.2f N", k + 1, mae, r2, base_mae)
    return mae, r2, base_mae, epoch


t0 = time.time()
rows = [run_fold(k) for k in range(4)]
print()
print("fold | MAE (N) | R2    | mean-guess MAE | epochs")
for k, (mae, r2, b, ep) in enumerate(rows):
    print(f"  {k + 1}  | {mae:7.2f} | {r2:.3f} | {b:14.2f} | {ep}")
m = np.array(rows)
print(f" avg | {m[:, 0].mean():7.2f} | {m[:, 1].mean():.3f} | {m[:, 2].mean():14.2f} |")
print(f"wall {time.time() - t0:.1f}s")
