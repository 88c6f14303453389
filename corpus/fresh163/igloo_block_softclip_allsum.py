"""Igloo-block strength: compressive strength (kPa) of cut snow blocks.

Single-host run of a data-parallel script: gradients go through
mx.distributed.all_sum (a group of one process here), and the hidden
activation is a soft clip with a hand-written VJP.
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s igloo: %(message)s")
log = logging.getLogger("igloo")

rng = np.random.default_rng(163)
N_TRAIN, N_VAL = 1800, 400


def make_blocks(n):
    density = rng.uniform(250, 550, n)            # kg/m^3
    temp = rng.uniform(-25, -2, n)                # deg C
    wind_h = rng.uniform(0, 48, n)                # hours of wind packing
    grain = rng.uniform(0.2, 2.0, n)              # mm
    thick = rng.uniform(15, 35, n)                # cm
    sinter = rng.uniform(0, 120, n)               # minutes resting after cut
    kpa = (0.9 * np.exp((density - 250) / 110.0)
           + 0.06 * (-temp) + 0.8 * np.log1p(wind_h)
           - 1.1 * grain + 0.03 * thick + 1.4 * (1 - np.exp(-sinter / 40.0)))
    kpa = kpa + rng.normal(0, 0.35, n)
    X = np.stack([density, temp, wind_h, grain, thick, sinter], 1)
    return X.astype(np.float32), kpa.astype(np.float32)


Xtr, ytr = make_blocks(N_TRAIN)
Xva, yva = make_blocks(N_VAL)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr_n, Xva_n = (Xtr - mu) / sd, (Xva - mu) / sd


@mx.custom_function
def softclip(x):
    return 2.0 * mx.tanh(x / 2.0)


@softclip.vjp
def softclip_vjp(x, cotangent, output):
    t = mx.tanh(x / 2.0)
    return cotangent * (1.0 - t * t)


class BlockNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = softclip(self.l1(x))
        h = softclip(self.l2(h))
        return self.out(h).squeeze(-1)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


def mape(model, X, y):
    pred = np.array(model(mx.array(X))) * ysd + ymu
    return float(np.mean(np.abs(pred - y) / np.abs(y)) * 100.0)


group = mx.distributed.init()
world = group.size()
log.info("rank %d of %d", group.rank(), world)

# audit: custom VJP against a finite difference
xs = mx.array(np.linspace(-3, 3, 7).astype(np.float32))
g_custom = mx.grad(lambda v: softclip(v).sum())(xs)
eps = 1e-3
g_fd = (2 * mx.tanh((xs + eps) / 2) - 2 * mx.tanh((xs - eps) / 2)) / (2 * eps)
log.info("vjp audit max|custom-fd| = %.2e", mx.max(mx.abs(g_custom - g_fd)).item())

# reference: ordinary least squares on the raw features
A = np.hstack([Xtr_n, np.ones((N_TRAIN, 1), np.float32)])
w, *_ = np.linalg.lstsq(A, ytr, rcond=None)
ols_pred = np.hstack([Xva_n, np.ones((N_VAL, 1), np.float32)]) @ w
ols_mape = float(np.mean(np.abs(ols_pred - yva) / np.abs(yva)) * 100)

mx.random.seed(7)
model = BlockNet()
opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)
loss_and_grad = nn.value_and_grad(model, mse)

Xt, Yt = mx.array(Xtr_n), mx.array((ytr - ymu) / ysd)
EPOCHS, BS = 40, 60
log.info("epoch 00  untrained val MAPE %.2f%%  (OLS ref %.2f%%)", mape(model, Xva_n, yva), ols_mape)
t0 = time.time()
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(N_TRAIN))
    tot = 0.0
    for i in range(0, N_TRAIN, BS):
        idx = perm[i:i + BS]
        loss, grads = loss_and_grad(model, Xt[idx], Yt[idx])
        grads = nn.utils.tree_map(lambda g: mx.distributed.all_sum(g, group=group) / world, grads)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item() * idx.shape[0]
    if ep == 1:
        gn = {k: float(mx.linalg.norm(v).item()) for k, v in nn.utils.tree_flatten(grads)}
        log.info("grad norms epoch 1: min %.3e over %d tensors", min(gn.values()), len(gn))
    if ep % 8 == 0 or ep == 1:
        log.info("epoch %02d  train mse(std units) %.4f  val MAPE %.2f%%  (OLS ref %.2f%%)",
                 ep, tot / N_TRAIN, mape(model, Xva_n, yva), ols_mape)

final = mape(model, Xva_n, yva)
log.info("done in %.1fs: val MAPE %.2f%% vs OLS %.2f%%, improvement %.1f pts",
         time.time() - t0, final, ols_mape, ols_mape - final)
