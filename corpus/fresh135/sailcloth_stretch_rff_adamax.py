# Sailmaking: predict the bias stretch (%) of a laminated sailcloth panel under a
# test load from six loft-test readings. A fixed random-Fourier-feature layer is
# kept frozen on purpose (it is the "fabric basis" shared with another tool);
# only the head and the linear skip are trained. Adamax, LR warmed up from 0.
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(levelname)s sailloft | %(message)s")
log = logging.getLogger("sailloft")

rng = np.random.default_rng(135)
N = 4000
denier = rng.uniform(200, 1500, N)          # yarn denier
picks = rng.uniform(10, 40, N)              # picks per cm
resin = rng.uniform(5, 25, N)               # resin content %
bias = rng.uniform(0, 45, N)                # bias angle, degrees
load = rng.uniform(2, 30, N)                # test load, N/cm
temp = rng.uniform(5, 40, N)                # lab temperature, C
# made-up stretch law (percent): softer on the bias, stiffer with resin/picks
stretch = (
    0.08 * load / (1 + 0.002 * denier) * (1 + 1.8 * np.sin(np.radians(bias)) ** 2)
    * np.exp(-0.03 * resin) / (0.5 + picks / 40)
    + 0.004 * (temp - 20) + 0.02 * np.sin(load / 5.0)
)
stretch = stretch + rng.normal(0, 0.01, N)
X = np.stack([denier, picks, resin, bias, load, temp], 1)
mu, sd = X.mean(0), X.std(0)
Xs = ((X - mu) / sd).astype(np.float32)
y = stretch.astype(np.float32)[:, None]
tr, va = slice(0, 3200), slice(3200, N)

# reference: closed-form ridge on raw standardized features
A = np.c_[Xs[tr], np.ones(3200)]
w = np.linalg.solve(A.T @ A + 1e-3 * np.eye(7), A.T @ y[tr])
ridge_rmse = float(np.sqrt(np.mean((np.c_[Xs[va], np.ones(N - 3200)] @ w - y[va]) ** 2)))


class StretchNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.basis = nn.Linear(6, 96)          # frozen random Fourier basis
        self.basis.weight = mx.random.normal((96, 6)) * 0.45
        self.basis.bias = mx.random.uniform(0, 2 * math.pi, (96,))
        self.hidden = nn.Linear(96, 48)
        self.out = nn.Linear(48, 1)
        self.skip = nn.Linear(6, 1)

    def __call__(self, x):
        phi = mx.cos(self.basis(x)) * math.sqrt(2 / 96)
        return self.out(nn.silu(self.hidden(phi * 6.0))) + self.skip(x)


mx.random.seed(135)
model = StretchNet()
model.basis.freeze()
frozen_before = {k: np.array(v) for k, v in tree_flatten(model.basis.parameters())}

EPOCHS, BS = 20, 64
steps_per_epoch = 3200 // BS
total = EPOCHS * steps_per_epoch
warm = 120
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 4e-3, warm), optim.cosine_decay(4e-3, total - warm, 1e-4)], [warm]
)
opt = optim.Adamax(learning_rate=sched)


def loss_fn(m, xb, yb):
    return nn.losses.mse_loss(m(xb), yb)


vg = nn.value_and_grad(model, loss_fn)
Xtr, ytr = mx.array(Xs[tr]), mx.array(y[tr])
Xva, yva = mx.array(Xs[va]), mx.array(y[va])

# every trainable leaf must see a gradient
_, g0 = vg(model, Xtr[:256], ytr[:256])
for k, g in tree_flatten(g0):
    assert float(mx.abs(g).sum()) > 0, k
log.info("trainable leaves: %s", ", ".join(k for k, _ in tree_flatten(model.trainable_parameters())))
log.info("reference ridge RMSE on val: %.4f pp stretch (target std %.4f pp)", ridge_rmse, float(y[va].std()))

t0 = time.time()
step = 0
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(3200))
    run = 0.0
    for b in range(steps_per_epoch):
        idx = perm[b * BS:(b + 1) * BS]
        loss, grads = vg(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        step += 1
    pred = model(Xva)
    rmse = mx.sqrt(mx.mean((pred - yva) ** 2)).item()
    hit = mx.mean((mx.abs(pred - yva) < 0.05).astype(mx.float32)).item() * 100
    log.info(
        "ep %02d | lr %.2e | train mse %.5f | val rmse %.4f pp (ridge %.4f) | within 0.05pp %5.1f%%",
        ep, float(opt.learning_rate), run / steps_per_epoch, rmse, ridge_rmse, hit,
    )

frozen_drift = max(
    float(np.abs(np.array(v) - frozen_before[k]).max()) for k, v in tree_flatten(model.basis.parameters())
)
log.info("audit: frozen basis max |delta| = %.3e ; optimizer steps = %d ; %.1fs", frozen_drift, step, time.time() - t0)
log.info("final: val rmse %.4f pp vs ridge %.4f pp (%.0f%% lower)", rmse, ridge_rmse, 100 * (1 - rmse / ridge_rmse))
