"""Unsupervised anomaly detection for a (synthetic) pump sensor array.

A dense autoencoder is trained on normal operation only (12 correlated channels driven by
3 latent operating conditions).  Its reconstruction error is then used as an anomaly score
on a held-out set that contains three kinds of injected faults.  RMSprop, validation-based
early stopping with patience, and the stdlib logging module for the report.
"""
import logging
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("pump-ae")

CH, LATENT = 12, 3
rng = np.random.default_rng(11)
MIX = rng.normal(size=(LATENT, CH))
BIAS = rng.normal(scale=0.5, size=(CH,))


def normal_readings(n):
    z = rng.normal(size=(n, LATENT))
    x = np.tanh(z @ MIX) + 0.3 * (z[:, :1] ** 2) + BIAS
    return (x + 0.05 * rng.normal(size=x.shape)).astype(np.float32)


def faulty_readings(n):
    x = normal_readings(n)
    kind = rng.integers(0, 3, size=n)
    idx = rng.integers(0, CH, size=n)
    for i in range(n):
        if kind[i] == 0:      # stuck sensor
            x[i, idx[i]] = 2.5
        elif kind[i] == 1:    # two channels swapped
            j = (idx[i] + 5) % CH
            x[i, [idx[i], j]] = x[i, [j, idx[i]]]
        else:                 # broadband noise burst
            x[i] += 0.6 * rng.normal(size=CH)
    return x


train = normal_readings(6000)
mu, sd = train.mean(0), train.std(0) + 1e-6
norm = lambda a: mx.array((a - mu) / sd)
Xtr = norm(train)
Xval = norm(normal_readings(1000))
test_norm = normal_readings(900)
test_bad = faulty_readings(300)
Xte = norm(np.concatenate([test_norm, test_bad]))
yte = np.concatenate([np.zeros(len(test_norm)), np.ones(len(test_bad))])


class AE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(CH, 64), nn.SiLU(), nn.Linear(64, LATENT + 1))
        self.dec = nn.Sequential(nn.Linear(LATENT + 1, 64), nn.SiLU(), nn.Linear(64, CH))

    def __call__(self, x):
        return self.dec(self.enc(x))


def recon_err(model, x):
    return mx.mean((model(x) - x) ** 2, axis=-1)


def loss_fn(model, x):
    return mx.mean(recon_err(model, x))


def auroc(scores, labels):
    # Mann-Whitney U statistic from ranks (no ties expected for float scores)
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    pos = labels == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


mx.random.seed(3)
model = AE()
opt = optim.RMSprop(learning_rate=2e-3, alpha=0.9)
vg = nn.value_and_grad(model, loss_fn)

# first-step gradient sanity check: every leaf must receive signal
_, g0 = vg(model, Xtr[:256])
zero = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0.0]
log.info("grad check: %d leaves, %d with all-zero gradient", len(tree_flatten(g0)), len(zero))
assert not zero, zero

BS, MAX_EPOCHS, PATIENCE = 48, 60, 6
best, best_epoch, bad_epochs = math.inf, 0, 0
best_params = None
t0 = time.time()
for epoch in range(1, MAX_EPOCHS + 1):
    perm = mx.array(rng.permutation(Xtr.shape[0]))
    tot, nb = 0.0, 0
    for s in range(0, Xtr.shape[0], BS):
        xb = Xtr[perm[s:s + BS]]
        loss, grads = vg(model, xb)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    val = loss_fn(model, Xval).item()
    improved = val < best - 1e-5
    if improved:
        best, best_epoch, bad_epochs = val, epoch, 0
        best_params = tree_flatten(model.parameters())
    else:
        bad_epochs += 1
    log.info("epoch=%02d train_mse=%.5f val_mse=%.5f best=%.5f%s elapsed=%.1fs", epoch,
             tot / nb, val, best, " *" if improved else "", time.time() - t0)
    if bad_epochs >= PATIENCE:
        log.info("early stop: no val improvement for %d epochs (best epoch %d)", PATIENCE, best_epoch)
        break

model.update(tree_unflatten(best_params))
scores = np.array(recon_err(model, Xte))
auc = auroc(scores, yte)
thr = np.quantile(np.array(recon_err(model, Xval)), 0.99)
flag = scores > thr
log.info("test AUROC=%.4f (chance 0.5)  threshold(val p99)=%.4f", auc, thr)
log.info("recall on faults=%.3f  false-alarm rate on normals=%.3f",
         flag[yte == 1].mean(), flag[yte == 0].mean())
