"""Ice-climbing field tests -> ice-screw pull-out load (daN).

Stage "cold" trains on tests in cold, dry ice only. Stage "thaw" then adds
the tests in warm / wet ice (much noisier, harder to fit) and keeps the input
layer frozen so the learned ice-temperature features are reused.
Each stage restarts its own step counter and warms its learning rate up
from exactly zero.
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s icefall | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("icefall")

rng = np.random.default_rng(31)
N = 6000
# ice temp (C), air temp (C), screw length (cm), placement angle offset (deg/2), ice layers, rel humidity, snow crust (cm)
ice_t = rng.uniform(-16, 1, N)
air_t = ice_t + rng.normal(1.5, 3.0, N)
screw = rng.uniform(5, 30, N)
angle = rng.uniform(3, 12, N)
layers = rng.integers(1, 4, N).astype(np.float64)
humid = rng.uniform(0.3, 1.0, N)
crust = rng.gamma(1.2, 6.0, N)
wet = (air_t > -2.0) | (humid > 0.9)

pull = (60.0 - 2.6 * ice_t + 0.9 * screw - 2.1 * angle + 7.0 * layers
        - 1.3 * crust - 18.0 * humid * (air_t > -2.0)
        + 4.0 * np.sin(screw / 5.0))
noise = np.where(wet, rng.normal(0, 9.0, N), rng.normal(0, 3.0, N))
pull = pull + noise

X = np.stack([ice_t, air_t, screw, angle, layers, humid, crust], 1)
X = (X - X.mean(0)) / X.std(0)
y = (10.0 * pull).astype(np.float32)
y_mu, y_sd = y.mean(), y.std()
yz = (y - y_mu) / y_sd

idx = rng.permutation(N)
tr, va = idx[:5000], idx[5000:]
Xtr, ytr, wtr = X[tr].astype(np.float32), yz[tr], wet[tr]
Xva, yva, wva = X[va].astype(np.float32), yz[va], wet[va]


class ScrewNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(7, 48)
        self.mid = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = h + nn.gelu(self.mid(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, xb, yb):
    return mx.mean(nn.losses.huber_loss(model(xb), yb, delta=1.0))


def rmse_dan(model, xs, ys):
    p = model(mx.array(xs))
    return float(mx.sqrt(mx.mean((p - mx.array(ys)) ** 2)).item()) * y_sd


mx.random.seed(4)
model = ScrewNet()
opt = optim.Adamax(learning_rate=0.0)
step_fn = nn.value_and_grad(model, loss_fn)

# one-off check that every layer receives gradient before training
_, g0 = step_fn(model, mx.array(Xtr[:256]), mx.array(ytr[:256]))
gn = {k: float(mx.sqrt(mx.sum(v * v)).item()) for k, v in tree_flatten(g0)}
log.info("grad-norm audit: " + " ".join(f"{k}={v:.3g}" for k, v in gn.items()))

base_va = float(np.sqrt(np.mean(yva ** 2))) * y_sd
log.info("predict-the-mean baseline on validation: %.2f daN", base_va)

stages = [("cold", ~wtr, 260, 2e-3, False), ("thaw", np.ones_like(wtr), 320, 1.5e-3, True)]
BS = 128
t0 = time.time()
for name, mask, steps, peak, freeze_inp in stages:
    Xs, ys = Xtr[mask], ytr[mask]
    if freeze_inp:
        model.inp.freeze()
    else:
        model.unfreeze()
    n_tr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    log.info("stage %s: %d tests, %d trainable weights, frozen input=%s", name, len(ys), n_tr, freeze_inp)
    warm = 40
    for step in range(steps):
        if step < warm:
            lr = peak * step / warm
        else:
            lr = peak * 0.5 * (1 + math.cos(math.pi * (step - warm) / (steps - warm)))
        opt.learning_rate = lr
        b = rng.integers(0, len(ys), BS)
        loss, grads = step_fn(model, mx.array(Xs[b]), mx.array(ys[b]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 40 == 0 or step == steps - 1:
            r_all = rmse_dan(model, Xva, yva)
            r_cold = rmse_dan(model, Xva[~wva], yva[~wva])
            r_wet = rmse_dan(model, Xva[wva], yva[wva])
            log.info("stage=%s step=%03d lr=%.2e huber=%.4f | val rmse %.2f daN (cold %.2f, wet %.2f) vs %.2f",
                     name, step, lr, loss.item(), r_all, r_cold, r_wet, base_va)

log.info("done in %.1fs, final validation rmse %.2f daN against a %.2f daN baseline",
         time.time() - t0, rmse_dan(model, Xva, yva), base_va)
