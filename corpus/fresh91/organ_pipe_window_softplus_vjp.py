# Organ voicing log: predict how many cents a flue pipe speaks off its
# nominal pitch from its geometry and the church conditions.
# New measurement sessions arrive one after another; we keep a rolling window
# of the most recent 3000 pipes (older ones drop out) and retrain on it.
import logging
import sys
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="organ|%(levelname)s|%(relativeCreated)7.0fms|%(message)s")
log = logging.getLogger("voicing")


@mx.custom_function
def softplus(x):
    return mx.logaddexp(x, 0.0)


@softplus.vjp
def softplus_vjp(x, cotangent, output):
    # single input: MLX hands over the primal itself, not a tuple
    return cotangent * mx.sigmoid(x)


class PitchNet(nn.Module):
    def __init__(self, d_in=6, width=64):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.mid = nn.Linear(width, width)
        self.head = nn.Linear(width, 1)

    def __call__(self, x):
        h = softplus(self.inp(x))
        h = softplus(self.mid(h)) + h
        return self.head(h).squeeze(-1)


def session(rng, n, warm):
    """One voicing visit: n pipes measured; 'warm' shifts the church temperature."""
    length = rng.uniform(0.1, 2.5, n)          # m
    scale = rng.normal(0, 1, n)                # diameter vs. normal scale (half-tones)
    cutup = rng.uniform(0.18, 0.35, n)         # mouth cut-up / width
    wind = rng.uniform(60, 100, n)             # mm water column
    temp = rng.normal(14 + warm, 3, n)         # deg C
    hum = rng.uniform(30, 80, n)               # %RH
    cents = (0.5 * (temp - 15)
             + 8.0 * np.tanh(3 * (cutup - 0.26))
             - 2.5 * scale * np.log(length + 0.3)
             + 0.09 * (wind - 80) * (1 + 0.4 * scale)
             + 0.03 * (hum - 55)
             + rng.normal(0, 0.8, n))
    x = np.stack([np.log(length), scale, cutup, wind, temp, hum], 1).astype(np.float32)
    return x, cents.astype(np.float32)


rng = np.random.default_rng(2024)
x_test, y_test = session(rng, 1500, warm=3.0)
# feature scaling fixed from a reference visit so old and new sessions share it
x_ref, y_ref = session(np.random.default_rng(0), 4000, warm=0.0)
f_mu, f_sd = x_ref.mean(0), x_ref.std(0)
y_mu, y_sd = float(y_ref.mean()), float(y_ref.std())
scale_x = lambda a: (a - f_mu) / f_sd
log.info("reference spread %.2f cents; predict-the-mean test RMSE %.2f cents",
         y_sd, float(np.sqrt(np.mean((y_test - y_mu) ** 2))))

mx.random.seed(3)
model = PitchNet()
opt = optim.Adagrad(learning_rate=0.05)
loss_fn = lambda m, x, y: nn.losses.mse_loss(m(x), y)

# wiring check, eager, before compiling
xb, yb = session(np.random.default_rng(1), 64, 0.0)
_, g = nn.value_and_grad(model, loss_fn)(model, mx.array(scale_x(xb)), mx.array((yb - y_mu) / y_sd))
flat = tree_flatten(g)
dead = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
log.info("gradient leaves %d, all-zero %s", len(flat), dead if dead else "none")

opt.init(model.trainable_parameters())
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


def evaluate():
    pred = np.array(model(mx.array(scale_x(x_test)))) * y_sd + y_mu
    err = pred - y_test
    return float(np.sqrt(np.mean(err ** 2))), float(100 * np.mean(np.abs(err) <= 1.5))


CAP, BATCH, EPOCHS_PER_VISIT = 3000, 50, 5
win_x = np.zeros((0, 6), np.float32)
win_y = np.zeros((0,), np.float32)
rmse, within = evaluate()
log.info("visit 00 window=%4d train_mse=  --   test_rmse=%.2fc within_1.5c=%5.1f%%", 0, rmse, within)
for visit in range(1, 13):
    xs, ys = session(rng, 700, warm=0.35 * visit)
    win_x = np.concatenate([win_x, scale_x(xs)])[-CAP:]
    win_y = np.concatenate([win_y, (ys - y_mu) / y_sd])[-CAP:]
    t = time.perf_counter()
    losses = []
    for _ in range(EPOCHS_PER_VISIT):
        perm = rng.permutation(len(win_x))
        for s in range(0, len(perm) - BATCH + 1, BATCH):
            idx = perm[s:s + BATCH]
            loss = train_step(mx.array(win_x[idx]), mx.array(win_y[idx]))
            mx.eval(loss, state)
            losses.append(loss.item())
    rmse, within = evaluate()
    log.info("visit %02d window=%4d train_mse=%.4f test_rmse=%.2fc within_1.5c=%5.1f%% (%d steps, %.1fs)",
             visit, len(win_x), float(np.mean(losses[-40:])), rmse, within, len(losses),
             time.perf_counter() - t)
log.info("noise floor is 0.80 cents RMSE; final %.2f cents", rmse)
