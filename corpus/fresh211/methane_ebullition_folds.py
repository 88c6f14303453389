"""Methane bubble (ebullition) counts per trap-hour from wetland sensors.
Hand-written Poisson deviance (sum over the batch, divided by batch size),
4-fold cross-validation with a fresh model per fold, SGD+momentum, early
stopping with restore of the best weights. Output via `logging` as a table."""
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
log = logging.getLogger("ebullition")

mx.random.seed(11)
N, K = 3200, 4
temp = mx.random.uniform(4, 26, (N,))          # sediment temp (degC)
depth = mx.random.uniform(0.2, 2.5, (N,))      # water depth (m)
dpress = mx.random.normal((N,)) * 6            # pressure change (hPa/3h)
wtable = mx.random.uniform(-30, 10, (N,))      # water table (cm)
rate = mx.exp(-1.0 + 0.09 * temp - 0.35 * depth - 0.06 * dpress + 0.02 * wtable)
# Poisson sampling via inverse-CDF on uniforms (rates are small)
u = mx.random.uniform(shape=(N,))
k = mx.zeros((N,))
cdf = mx.exp(-rate)
pk = cdf
for j in range(1, 40):
    k = k + (u > cdf)
    pk = pk * rate / j
    cdf = cdf + pk
counts = k
X = mx.stack([temp, depth, dpress, wtable], axis=1)
X = (X - X.mean(axis=0)) / X.std(axis=0)


def poisson_deviance(log_mu, y):
    mu = mx.exp(log_mu)
    ylogy = mx.where(y > 0, y * mx.log(mx.maximum(y, 1e-8) / mu), 0.0)
    return 2.0 * mx.sum(ylogy - (y - mu)) / y.shape[0]


class RateNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(4, 24)
        self.l2 = nn.Linear(24, 1)

    def __call__(self, x):
        return self.l2(nn.silu(self.l1(x))).squeeze(-1)


fold_ids = mx.arange(N) % K
null_dev_all = poisson_deviance(mx.log(counts.mean()) * mx.ones((N,)), counts).item()
log.info("null-model deviance (mean rate only) = %.4f", null_dev_all)
log.info("%-5s %-6s %-11s %-11s %-9s %s", "fold", "epoch", "train_dev", "val_dev", "lr", "note")

summary = []
for fold in range(K):
    tr = mx.array([i for i in range(N) if int(fold_ids[i]) != fold])
    va = mx.array([i for i in range(N) if int(fold_ids[i]) == fold])
    Xtr, ytr, Xva, yva = X[tr], counts[tr], X[va], counts[va]
    model = RateNet()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.02, momentum=0.9)
    vg = nn.value_and_grad(model, lambda m, a, b: poisson_deviance(m(a), b))
    if fold == 0:
        _, g = vg(model, Xtr[:64], ytr[:64])
        zero = [n for n, v in tree_flatten(g) if float(mx.abs(v).sum()) == 0.0]
        log.info("grad reach: %d tensors, zero-grad %s", len(tree_flatten(g)), zero)
    best, best_ep, best_w, wait = float("inf"), 0, None, 0
    for epoch in range(1, 81):
        perm = mx.random.permutation(Xtr.shape[0])
        tot = 0.0
        for s in range(0, Xtr.shape[0], 48):
            idx = perm[s:s + 48]
            loss, grads = vg(model, Xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * idx.shape[0]
        vdev = poisson_deviance(model(Xva), yva).item()
        note = ""
        if vdev < best - 1e-4:
            best, best_ep, wait = vdev, epoch, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            note = "*"
        else:
            wait += 1
        if epoch % 10 == 0 or epoch == 1:
            log.info("%-5d %-6d %-11.4f %-11.4f %-9.4f %s", fold, epoch, tot / Xtr.shape[0], vdev,
                     opt.learning_rate.item(), note)
        if wait >= 12:
            log.info("%-5d %-6d early stop, restoring epoch %d", fold, epoch, best_ep)
            break
    model.update(best_w)
    mx.eval(model.parameters())
    restored = poisson_deviance(model(Xva), yva).item()
    null_v = poisson_deviance(mx.log(ytr.mean()) * mx.ones(yva.shape), yva).item()
    summary.append((fold, best_ep, restored, null_v))

log.info("---- summary (deviance, lower is better) ----")
for f, e, d, n0 in summary:
    log.info("fold %d  best_epoch %3d  val_dev %.4f  null %.4f  explained %.1f%%", f, e, d, n0,
             100 * (1 - d / n0))
log.info("mean val_dev %.4f", sum(s[2] for s in summary) / K)
