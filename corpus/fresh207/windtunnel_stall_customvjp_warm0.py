"""Low-speed wind tunnel: classify the flow regime on an airfoil section.

0 = attached, 1 = trailing-edge separation, 2 = full stall.
Inputs arrive in tunnel units; a calibration layer (fixed from the tunnel's
calibration sheet) converts them and is frozen.  Custom activation with a
hand-written VJP, compiled train step, LR warm-up from exactly 0.
"""
import logging
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s tunnel: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("tunnel")

rs = np.random.default_rng(99)
mx.random.seed(99)


def sample_points(n):
    alpha = rs.uniform(-4.0, 22.0, n)            # angle of attack, deg
    log_re = rs.uniform(5.0, 6.5, n)             # log10 Reynolds number
    camber = rs.uniform(0.0, 6.0, n)             # % chord
    thick = rs.uniform(8.0, 18.0, n)             # % chord
    trip = rs.integers(0, 2, n).astype(float)    # roughness strip on/off
    flap = rs.choice([0.0, 10.0, 20.0], n)       # flap deflection, deg
    # made-up stall law: stall angle grows with Re and thickness, drops with flap
    a_sep = 7.0 + 2.5 * (log_re - 5.0) + 0.35 * (thick - 12.0) - 0.12 * flap - 1.0 * trip + 0.3 * camber
    a_stall = a_sep + 4.0 + 0.2 * thick - 0.6 * trip
    margin_sep = alpha - a_sep + rs.normal(0, 0.8, n)
    margin_st = alpha - a_stall + rs.normal(0, 0.8, n)
    y = np.where(margin_st > 0, 2, np.where(margin_sep > 0, 1, 0))
    X = np.stack([alpha, log_re, camber, thick, trip, flap], 1)
    return X.astype(np.float32), y.astype(np.int32)


Xtr, ytr = sample_points(6000)
Xte, yte = sample_points(2000)
cal_mu, cal_sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xte = mx.array(Xtr), mx.array(Xte)
ytr, yte = mx.array(ytr), mx.array(yte)


@mx.custom_function
def soft_knee(x):
    # x * sigmoid(2x) -- smooth knee, like a sharper SiLU
    return x * mx.sigmoid(2.0 * x)


@soft_knee.vjp
def soft_knee_vjp(x, cotangent, output):
    s = mx.sigmoid(2.0 * x)
    return cotangent * (s + 2.0 * x * s * (1.0 - s))


class SoftKnee(nn.Module):
    def __call__(self, x):
        return soft_knee(x)


class RegimeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.calib = nn.Linear(6, 6)
        self.body = nn.Sequential(
            nn.Linear(6, 96), SoftKnee(),
            nn.Linear(96, 96), SoftKnee(),
            nn.Linear(96, 3),
        )

    def __call__(self, x):
        return self.body(self.calib(x))


model = RegimeNet()
# calibration sheet: z = (x - mu) / sd, written into the frozen layer
model.calib.weight = mx.diag(mx.array(1.0 / cal_sd))
model.calib.bias = mx.array(-cal_mu / cal_sd)
model.calib.freeze()
mx.eval(model.parameters())

warm, total = 150, 1500
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 0.08, warm), optim.cosine_decay(0.08, total - warm, 1e-3)],
    [warm],
)
opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


grad_fn = nn.value_and_grad(model, loss_fn)

# one-off audit: custom VJP vs autodiff of the same formula, and grad norms
xs = mx.linspace(-4, 4, 257)
g_custom = mx.grad(lambda v: soft_knee(v).sum())(xs)
g_auto = mx.grad(lambda v: (v * mx.sigmoid(2.0 * v)).sum())(xs)
log.info("audit vjp: max|custom-auto| = %.2e", mx.max(mx.abs(g_custom - g_auto)).item())
_, g0 = grad_fn(model, Xtr[:256], ytr[:256])
from mlx.utils import tree_flatten
for k, v in tree_flatten(g0):
    log.info("audit grad-norm %-22s %.3e", k, mx.linalg.norm(v).item())
log.info("audit frozen: calib trainable=%d  total trainable=%d",
         len(tree_flatten(model.calib.trainable_parameters())),
         len(tree_flatten(model.trainable_parameters())))

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = grad_fn(model, x, y)
    opt.update(model, grads)
    return loss


def scores(X, y):
    pred = mx.argmax(model(X), axis=-1)
    acc = mx.mean(pred == y).item()
    # missed stalls: true stall called "attached" -- the dangerous error
    stall = y == 2
    miss = (mx.sum((pred == 0) & stall) / mx.maximum(mx.sum(stall), 1)).item()
    return 100 * acc, 100 * miss


maj = float(np.bincount(np.array(yte)).max() / yte.shape[0] * 100)
bs = 200
running = 0.0
for it in range(total):
    idx = mx.random.randint(0, Xtr.shape[0], (bs,))
    loss = step(Xtr[idx], ytr[idx])
    mx.eval(state, loss)
    running += loss.item()
    if (it + 1) % 100 == 0:
        acc, miss = scores(Xte, yte)
        log.info("step %4d | ce %.4f | test acc %.1f%% (majority %.1f%%) | stall-miss %.1f%% | lr %.4f",
                 it + 1, running / 100, acc, maj, miss, opt.learning_rate.item())
        running = 0.0

acc, miss = scores(Xte, yte)
cal_ok = mx.allclose(model.calib.bias, mx.array(-cal_mu / cal_sd)).item()
log.info("finished: test acc %.2f%%, stall-miss %.2f%%, calib unchanged=%s", acc, miss, cal_ok)
