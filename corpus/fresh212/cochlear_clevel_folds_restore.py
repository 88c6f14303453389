"""Cochlear-implant fitting clinic: predict the comfort level (C-level, in
clinical current units CU) of an electrode from the fitting-session readings.
5-fold cross validation; each fold trains a fresh net with RMSprop, keeps the
best validation epoch and restores it when patience runs out."""
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s fit: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("fit")

mx.random.seed(4242)
N = 300
ka, kb = mx.random.split(mx.random.key(31))
u = mx.random.uniform(shape=(N, 7), key=ka)
electrode = mx.floor(u[:, 0] * 22) + 1           # 1 (apical) .. 22 (basal)
impedance = 4 + 10 * u[:, 1]                      # kOhm
t_level = 100 + 60 * u[:, 2]                      # CU
months = 1 + 35 * u[:, 3]
age = 2 + 78 * u[:, 4]
ecap = t_level + 20 + 30 * u[:, 5]               # CU
pulse_w = 25 + 25 * mx.floor(u[:, 6] * 3)         # 25/50/75 us
dyn = 35 + 0.6 * (ecap - t_level) + 8 * mx.tanh((months - 12) / 6) \
    - 0.12 * (age - 40) + 4 * mx.sin(electrode / 3.5) - 0.5 * (impedance - 9) \
    - 0.15 * (pulse_w - 50)
c_level = t_level + dyn + 3.0 * mx.random.normal((N,), key=kb)

X = mx.stack([electrode, impedance, t_level, months, age, ecap, pulse_w], axis=1)
X = (X - X.mean(axis=0)) / X.std(axis=0)
Y_MU, Y_SD = c_level.mean().item(), c_level.std().item()
Y = (c_level - Y_MU) / Y_SD


class CNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(7, 96)
        self.b = nn.Linear(96, 96)
        self.c = nn.Linear(96, 1)

    def __call__(self, x):
        return self.c(nn.silu(self.b(nn.silu(self.a(x))))).squeeze(-1)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


def cu_metrics(model, x, y_cu):
    pred = model(x) * Y_SD + Y_MU
    mae = mx.mean(mx.abs(pred - y_cu)).item()
    r2 = 1 - (mx.sum((pred - y_cu) ** 2) / mx.sum((y_cu - y_cu.mean()) ** 2)).item()
    return mae, 100 * r2


def l2_dist(a, b):
    return math.sqrt(sum(mx.sum((x - y) ** 2).item()
                         for (_, x), (_, y) in zip(tree_flatten(a), tree_flatten(b))))


K = 5
perm = mx.random.permutation(N, key=mx.random.key(5))
fold_of = mx.zeros((N,), dtype=mx.int32)
fold_of[perm] = mx.arange(N) % K
summary = []
for fold in range(K):
    tr = mx.array([i for i in range(N) if fold_of[i].item() != fold])
    va = mx.array([i for i in range(N) if fold_of[i].item() == fold])
    xtr, ytr, xva, yva = X[tr], Y[tr], X[va], Y[va]
    base_mae = mx.mean(mx.abs((t_level[va] + 45.0) - c_level[va])).item()

    model = CNet()
    mx.eval(model.parameters())
    start = tree_map(lambda p: p, model.parameters())
    opt = optim.RMSprop(learning_rate=2e-3, alpha=0.95)
    vg = nn.value_and_grad(model, mse)
    if fold == 0:
        _, g = vg(model, xtr, ytr)
        nz = sum(int(mx.any(v != 0).item()) for _, v in tree_flatten(g))
        log.info("gradient check: %d/%d parameter tensors with non-zero grad", nz, len(tree_flatten(g)))

    best, best_ep, best_params, bad, patience = float("inf"), 0, None, 0, 25
    log.info("fold %d/%d ep   0  train_mse %.4f  val_mse %.4f  (untrained)", fold + 1, K,
             mse(model, xtr, ytr).item(), mse(model, xva, yva).item())
    for ep in range(1, 401):
        order = mx.random.permutation(len(tr))
        for i in range(0, len(tr), 16):
            idx = order[i:i + 16]
            loss, grads = vg(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
        vl = mse(model, xva, yva).item()
        if vl < best - 1e-5:
            best, best_ep, bad = vl, ep, 0
            best_params = tree_map(lambda p: mx.array(p), model.parameters())
        else:
            bad += 1
        if ep % 20 == 0 or ep == 1:
            tl = mse(model, xtr, ytr).item()
            log.info("fold %d/%d ep %3d  train_mse %.4f  val_mse %.4f  best %.4f@%d", fold + 1, K, ep, tl, vl, best, best_ep)
        if bad >= patience:
            log.info("fold %d/%d patience out at ep %d (val_mse %.4f vs best %.4f)", fold + 1, K, ep, vl, best)
            break
    model.update(best_params)
    mx.eval(model.parameters())
    mae, r2 = cu_metrics(model, xva, c_level[va])
    log.info("fold %d/%d restored ep %d | audit |w-best|=%.2e |w-w0|=%.3f | MAE %.2f CU (T+45 rule %.2f CU) R2 %.1f%%",
             fold + 1, K, best_ep, l2_dist(model.parameters(), best_params),
             l2_dist(model.parameters(), start), mae, base_mae, r2)
    summary.append((mae, base_mae, r2))

mae_m = sum(s[0] for s in summary) / K
base_m = sum(s[1] for s in summary) / K
r2_m = sum(s[2] for s in summary) / K
log.info("CV summary: MAE %.2f CU vs rule-of-thumb %.2f CU, R2 %.1f%%", mae_m, base_m, r2_m)
