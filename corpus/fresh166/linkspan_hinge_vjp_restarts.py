"""Ro-ro ferry linkspan: regress the peak hinge load (kN) on the shore hinge when a
vehicle crosses the ramp, from six harbour-log readings.  Robust fit: the loss is
squared error, but a custom VJP clips each residual's gradient (Huber-style), the
learning rate starts at exactly 0 and then follows cosine warm restarts."""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s linkspan | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("linkspan")

rng = np.random.default_rng(4417)


def make_crossings(n):
    tide = rng.uniform(-2.5, 2.5, n)            # m relative to chart datum mid
    freeboard = rng.uniform(1.0, 4.0, n)        # m, vessel car-deck height
    axle = rng.gamma(3.0, 2.2, n)               # tonnes on heaviest axle
    speed = rng.uniform(3.0, 15.0, n)           # km/h
    swell = rng.exponential(0.4, n)             # m significant wave height
    temp = rng.uniform(-5.0, 30.0, n)           # deg C bearing temperature
    ramp_angle = np.degrees(np.arctan((freeboard - (tide + 2.5)) / 22.0))
    load = (9.81 * axle * (1.0 + 0.018 * speed) * (1.0 + 0.04 * np.abs(ramp_angle))
            + 35.0 * swell ** 1.5 + 0.25 * np.maximum(0.0, 5.0 - temp) ** 1.3)
    load += rng.normal(0.0, 4.0, n)
    spikes = rng.random(n) < 0.03               # wheel-slam outliers in the log
    load[spikes] += rng.normal(0.0, 60.0, spikes.sum())
    X = np.stack([tide, freeboard, axle, speed, swell, temp], 1)
    return X.astype(np.float32), load.astype(np.float32)


Xtr, ytr = make_crossings(3200)
Xva, yva = make_crossings(800)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr, Xva = mx.array(Xtr), mx.array(Xva)
ytr_n, yva_n = mx.array((ytr - ymu) / ysd), mx.array((yva - ymu) / ysd)

CLIP = 1.5  # residual gradient clip, in target standard deviations


@mx.custom_function
def clipped_sq(pred, target):
    r = pred - target
    return 0.5 * r * r


@clipped_sq.vjp
def clipped_sq_vjp(primals, cotangent, output):
    pred, target = primals
    g = mx.clip(pred - target, -CLIP, CLIP) * cotangent
    return g, -g


class HingeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1)


model = HingeNet()
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return mx.mean(clipped_sq(m(x), y))


vg = nn.value_and_grad(model, loss_fn)

# every weight we train must receive gradient
_, g0 = vg(model, Xtr[:256], ytr_n[:256])
for name, g in nn.utils.tree_flatten(g0):
    assert float(mx.abs(g).sum()) > 0.0, name

PEAK, WARM = 3e-3, 60
CYCLES = [150, 300, 600]     # SGDR cycle lengths in steps
opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)


def lr_at(step):
    if step < WARM:
        return PEAK * step / WARM          # step 0 -> exactly 0.0
    s = step - WARM
    for c in CYCLES:
        if s < c:
            return 1e-5 + 0.5 * (PEAK - 1e-5) * (1 + math.cos(math.pi * s / c))
        s -= c
    return 1e-5


TOTAL = WARM + sum(CYCLES)
B = 128
base_rmse = float(np.sqrt(np.mean((yva - ytr.mean()) ** 2)))
base_mae = float(np.mean(np.abs(yva - np.median(ytr))))
log.info("crossings train=%d valid=%d  steps=%d  clip=%.1f sd", Xtr.shape[0], Xva.shape[0], TOTAL, CLIP)
t0 = time.time()
perm = np.arange(Xtr.shape[0])
pos = len(perm)
for step in range(TOTAL + 1):
    if pos + B > len(perm):
        rng.shuffle(perm)
        pos = 0
    idx = mx.array(perm[pos:pos + B])
    pos += B
    opt.learning_rate = lr_at(step)
    loss, grads = vg(model, Xtr[idx], ytr_n[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 70 == 0 or step == TOTAL:
        pv = model(Xva) * ysd + ymu
        err = pv - mx.array(yva)
        rmse = float(mx.sqrt(mx.mean(err * err)))
        mae = float(mx.mean(mx.abs(err)))
        log.info("step %4d lr %.2e  batch %.4f | valid rmse %6.2f kN (mean-baseline %6.2f) mae %5.2f kN (median-baseline %5.2f)",
                 step, float(opt.learning_rate), float(loss), rmse, base_rmse, mae, base_mae)
log.info("done in %.1fs; final rmse %.2f kN vs baseline %.2f kN (%.0f%% of baseline)",
         time.time() - t0, rmse, base_rmse, 100 * rmse / base_rmse)
