"""Chimney draft (Pa) learned online from a stream of stove sensor readings.
Readings arrive 48 per tick into a FIFO numpy buffer capped at 6000 rows
(memory grows to the cap, then holds); each tick trains on a random minibatch
drawn from the buffer. Train loss logged as a plain EMA that starts at 0."""
import logging
import sys
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(levelname)s|%(name)s|%(message)s")
log = logging.getLogger("draft")
rng = np.random.default_rng(7)

FEATS = ["flue_height_m", "flue_temp_C", "outdoor_temp_C", "wind_ms", "damper_pct", "flue_diam_cm"]


def sensor_batch(n):
    H = rng.uniform(3, 12, n)
    Tf = rng.uniform(60, 320, n)
    To = rng.uniform(-15, 25, n)
    wind = rng.uniform(0, 12, n)
    damp = rng.uniform(10, 100, n)
    diam = rng.uniform(12, 25, n)
    # stack effect: dP = g H (rho_out - rho_flue), ideal gas densities
    rho_o = 353.0 / (To + 273.15)
    rho_f = 353.0 / (Tf + 273.15)
    dp = 9.81 * H * (rho_o - rho_f)
    dp = dp * (0.55 + 0.45 * damp / 100) * (1 - 0.8 / diam) + 0.08 * wind ** 1.5
    dp = dp + rng.normal(0, 0.6, n)
    x = np.stack([H, Tf, To, wind, damp, diam], 1).astype(np.float32)
    return x, dp.astype(np.float32)


# fixed normalisation from the stove manufacturer's spec ranges
LO = np.array([3, 60, -15, 0, 10, 12], np.float32)
HI = np.array([12, 320, 25, 12, 100, 25], np.float32)
def norm(x):
    return 2 * (x - LO) / (HI - LO) - 1
YS = 20.0  # Pa per unit


class Buffer:
    def __init__(self, cap, d):
        self.cap = cap
        self.x = np.zeros((0, d), np.float32)
        self.y = np.zeros((0,), np.float32)

    def add(self, x, y):
        self.x = np.concatenate([self.x, x])[-self.cap:]
        self.y = np.concatenate([self.y, y])[-self.cap:]

    def sample(self, bs):
        idx = rng.integers(0, len(self.y), bs)
        return mx.array(self.x[idx]), mx.array(self.y[idx])

    def __len__(self):
        return len(self.y)


class DraftMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 96)
        self.l2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, 1)

    def __call__(self, x):
        h = nn.tanh(self.l1(x))
        h = nn.tanh(self.l2(h)) + h
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=0.1, reduction="mean")


# held-out readings from another week of the same stove
xt, yt = sensor_batch(3000)
Xt, Yt = mx.array(norm(xt)), mx.array(yt / YS)

def test_mae():
    return float(mx.mean(mx.abs(model(Xt) - Yt)).item()) * YS

mx.random.seed(0)
model = DraftMLP()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=4e-3)
vg = nn.value_and_grad(model, loss_fn)
buf = Buffer(cap=6000, d=6)

log.info("features=%s target=draft_Pa scale=%.0f", ",".join(FEATS), YS)
log.info("tick=0 buffer=0 test_mae_Pa=%.3f predict_mean_mae_Pa=%.3f", test_mae(),
         float(np.mean(np.abs(yt - yt.mean()))))
ema, beta = 0.0, 0.99
t0 = time.time()
for tick in range(1, 1801):
    x, y = sensor_batch(48)
    buf.add(norm(x), y / YS)
    bx, by = buf.sample(64)
    loss, grads = vg(model, bx, by)
    if tick == 1:
        flat = tree_flatten(grads)
        zero = [k for k, g in flat if not bool(mx.any(g != 0).item())]
        log.info("grad_check leaves=%d zero=%s", len(flat), zero)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    ema = beta * ema + (1 - beta) * loss.item()
    if tick in (10, 50) or tick % 200 == 0:
        log.info("tick=%d buffer=%d buffer_MB=%.2f ema_huber=%.5f test_mae_Pa=%.3f secs=%.1f",
                 tick, len(buf), (buf.x.nbytes + buf.y.nbytes) / 2**20, ema, test_mae(), time.time() - t0)
log.info("done ticks=1800 seen=%d kept=%d noise_mae_Pa=%.3f", 1800 * 48, len(buf), 0.6 * np.sqrt(2 / np.pi))
