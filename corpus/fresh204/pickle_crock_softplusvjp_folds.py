"""Home-cannery log: how many days until a fermenting pickle crock is safe (brine pH < 4.6).

Features per crock: brine salt %, cellar temperature C, cucumber diameter mm,
starter culture added (0/1), vinegar added ml/L, crock volume L, sugar g/L.
A small MLP predicts a raw score; a hand-written softplus with its own VJP turns
it into a strictly positive number of days.  5-fold cross-validation, SGD with
Nesterov momentum, early stopping per fold with the best weights put back.
"""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("crocks")

rng = np.random.default_rng(46)
N = 900
salt = rng.uniform(2.0, 8.0, N)
temp = rng.uniform(12.0, 26.0, N)
diam = rng.uniform(20.0, 55.0, N)
starter = rng.integers(0, 2, N).astype(float)
vinegar = rng.choice([0.0, 0.0, 0.0, 20.0, 40.0], N)
volume = rng.uniform(2.0, 20.0, N)
sugar = rng.uniform(0.0, 15.0, N)
# made-up fermentation law: warm, low-salt, seeded, sugared crocks acidify fast
days = (3.0 + 0.9 * salt + 0.05 * (26.0 - temp) ** 2 + 0.08 * diam
        - 2.2 * starter - 0.07 * vinegar + 0.15 * volume ** 0.8 - 0.12 * sugar)
days = np.clip(days, 1.0, None) * np.exp(rng.normal(0, 0.08, N))
X = np.stack([salt, temp, diam, starter, vinegar, volume, sugar], 1).astype(np.float32)
Y = days.astype(np.float32)


@mx.custom_function
def softplus_days(x):
    return mx.logaddexp(x, mx.zeros_like(x))


@softplus_days.vjp
def softplus_days_vjp(primal, cotangent, output):
    return (cotangent * mx.sigmoid(primal),)


# audit: hand-written VJP against autodiff of the same expression
probe = mx.linspace(-6, 6, 49)
g_custom = mx.grad(lambda v: softplus_days(v).sum())(probe)
g_auto = mx.grad(lambda v: mx.logaddexp(v, mx.zeros_like(v)).sum())(probe)
log.info("vjp audit: max |custom - autodiff| = %.2e over %d points", mx.abs(g_custom - g_auto).max().item(), probe.size)


class CrockNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 32)
        self.l2 = nn.Linear(32, 32)
        self.out = nn.Linear(32, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return softplus_days(self.out(h)).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


K, MAX_EP, PATIENCE, BATCH = 5, 100, 12, 64
folds = np.array_split(rng.permutation(N), K)
table = []
t0 = time.time()
for k in range(K):
    va_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(K) if j != k])
    mu, sd = X[tr_idx].mean(0), X[tr_idx].std(0) + 1e-6
    xtr, ytr = mx.array((X[tr_idx] - mu) / sd), mx.array(Y[tr_idx])
    xva, yva = mx.array((X[va_idx] - mu) / sd), Y[va_idx]
    baseline_mae = float(np.abs(yva - Y[tr_idx].mean()).mean())

    mx.random.seed(100 + k)
    model = CrockNet()
    opt = optim.SGD(learning_rate=0.01, momentum=0.9, nesterov=True)
    vg = nn.value_and_grad(model, loss_fn)
    if k == 0:
        _, g = vg(model, xtr[:BATCH], ytr[:BATCH])
        dead = [n for n, v in tree_flatten(g) if mx.abs(v).max().item() == 0]
        log.info("grad check fold 1: %d tensors, zero-gradient tensors: %s", len(tree_flatten(g)), dead or "none")

    best, best_ep, best_params, wait = float("inf"), 0, None, 0
    n_tr = xtr.shape[0]
    for ep in range(1, MAX_EP + 1):
        perm = mx.array(rng.permutation(n_tr))
        run = 0.0
        nb = 0
        for s in range(0, n_tr, BATCH):
            idx = perm[s:s + BATCH]
            loss, grads = vg(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            nb += 1
        pred = np.array(model(xva))
        mae = float(np.abs(pred - yva).mean())
        within = 100.0 * float((np.abs(pred - yva) <= 1.0).mean())
        if mae < best - 1e-4:
            best, best_ep, wait = mae, ep, 0
            best_params = tree_map(lambda p: mx.array(p), model.parameters())
            best_within = within
        else:
            wait += 1
        if ep % 10 == 0 or ep == 1:
            log.info("fold %d ep %3d | train_huber %.3f | val_mae %.2f d | within_1d %5.1f%% | baseline_mae %.2f d",
                     k + 1, ep, run / nb, mae, within, baseline_mae)
        if wait >= PATIENCE:
            log.info("fold %d: no gain for %d epochs, stop at ep %d, restoring ep %d (val_mae %.2f d)",
                     k + 1, PATIENCE, ep, best_ep, best)
            break
    model.update(best_params)
    mx.eval(model.parameters())
    check = float(np.abs(np.array(model(xva)) - yva).mean())
    table.append((k + 1, best_ep, check, best_within, baseline_mae))

print()
print("fold | best_ep | val_mae_days | within_1d_% | mean_baseline_days")
for row in table:
    print(f"{row[0]:>4} | {row[1]:>7} | {row[2]:>12.3f} | {row[3]:>11.1f} | {row[4]:>18.3f}")
arr = np.array(table)
print(f" avg | {'':>7} | {arr[:, 2].mean():>12.3f} | {arr[:, 3].mean():>11.1f} | {arr[:, 4].mean():>18.3f}")
log.info("done in %.1f s", time.time() - t0)
