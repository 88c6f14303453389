# Luge timing desk: predict how far a run finishes from the track's par time (ms)
# from start-house telemetry. Three stages; a hand-written log-cosh VJP; compiled step.
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rs = np.random.default_rng(7)
SCALE_MS = 250.0


def make_runs(n, tracks, noise_ms, outlier_p):
    trk = rs.choice(tracks, n)
    push = rs.normal(0, 1, n)          # start push speed (z)
    mass = rs.normal(0, 1, n)          # athlete + sled mass (z)
    ice = rs.normal(0, 1, n)           # ice temperature (z)
    runner = rs.normal(0, 1, n)        # runner steel temperature (z)
    err = rs.poisson(1.2, n)           # steering corrections
    curvy = np.array([0.3, 0.9, 0.5, 1.4, 1.1, 0.2])[trk]
    delta = (-180 * push - 90 * mass + 60 * ice * curvy - 40 * np.tanh(runner)
             + 35 * err ** 1.3 * curvy + 25 * push * ice)
    delta += rs.normal(0, noise_ms, n)
    crash = rs.uniform(0, 1, n) < outlier_p          # brushes the wall: long tail
    delta += crash * rs.exponential(600, n)
    feats = np.stack([push, mass, ice, runner, err / 3.0], 1).astype(np.float32)
    return feats, trk.astype(np.int32), (delta / SCALE_MS).astype(np.float32)


@mx.custom_function
def logcosh(r):
    a = mx.abs(r)
    return a + mx.log1p(mx.exp(-2 * a)) - math.log(2.0)


@logcosh.vjp
def logcosh_vjp(r, cotangent, output):
    return cotangent * mx.tanh(r)


class Sledder(nn.Module):
    def __init__(self):
        super().__init__()
        self.track = nn.Embedding(6, 6)
        self.body = nn.Sequential(nn.Linear(11, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.head = nn.Linear(64, 1)

    def __call__(self, x, t):
        h = mx.concatenate([x, self.track(t)], axis=-1)
        return self.head(self.body(h)).squeeze(-1)


def loss_fn(model, x, t, y):
    return mx.mean(logcosh(model(x, t) - y))


def mae_ms(model, x, t, y):
    return float(mx.mean(mx.abs(model(x, t) - y))) * SCALE_MS


# stage plans: (name, tracks, noise ms, crash prob, steps, lr, frozen)
stages = [
    ("home tracks", [0, 1, 2, 3], 30, 0.00, 500, 3e-3, []),
    ("new tracks 4-5, rough ice", [0, 1, 2, 3, 4, 5], 70, 0.04, 400, 2e-3, ["body"]),
    ("all tracks, full model", [0, 1, 2, 3, 4, 5], 70, 0.04, 400, 6e-4, []),
]

mx.random.seed(3)
model = Sledder()
va_x, va_t, va_y = (mx.array(a) for a in make_runs(2000, [0, 1, 2, 3, 4, 5], 70, 0.04))
par_mae = float(np.mean(np.abs(np.array(va_y)))) * SCALE_MS
t_start = time.time()

# one-off check of the custom VJP against central differences
r0 = mx.array([-3.0, -0.4, 0.0, 0.7, 5.0])
g_custom = mx.grad(lambda r: logcosh(r).sum())(r0)
eps = 1e-3
g_fd = (logcosh(r0 + eps) - logcosh(r0 - eps)) / (2 * eps)
print(f"vjp check: max |custom - finite diff| = {float(mx.max(mx.abs(g_custom - g_fd))):.2e}")

for si, (name, tracks, noise, crash_p, steps, lr, frozen) in enumerate(stages, 1):
    model.unfreeze()
    for part in frozen:
        getattr(model, part).freeze()
    tr_x, tr_t, tr_y = (mx.array(a) for a in make_runs(6000, tracks, noise, crash_p))
    opt = optim.Adamax(learning_rate=lr)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, t, y):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, x, t, y)
        opt.update(model, grads)
        return loss

    _, g = nn.value_and_grad(model, loss_fn)(model, tr_x[:256], tr_t[:256], tr_y[:256])
    norms = {k: float(mx.linalg.norm(v)) for k, v in tree_flatten(g)}
    n_train = len(tree_flatten(model.trainable_parameters()))
    print(f"\n== stage {si}/3: {name} | trainable tensors {n_train} | frozen {frozen or 'none'} | "
          f"min grad norm {min(norms.values()):.2e}")
    print(f"| {'step':>5} | {'logcosh':>8} | {'val MAE ms':>10} | {'par MAE ms':>10} |")
    for it in range(1, steps + 1):
        idx = mx.array(rs.integers(0, 6000, 128))
        loss = step(tr_x[idx], tr_t[idx], tr_y[idx])
        mx.eval(state, loss)
        if it == 1 or it % 100 == 0:
            print(f"| {it:>5} | {loss.item():8.4f} | {mae_ms(model, va_x, va_t, va_y):10.1f} | {par_mae:10.1f} |")

model.unfreeze()
print(f"\nfinal: val MAE {mae_ms(model, va_x, va_t, va_y):.1f} ms vs par-time guess {par_mae:.1f} ms "
      f"({time.time() - t_start:.1f}s)")
