"""Hang-glider polar fitting: predict sink rate (m/s) from 6 flight-log readings.

Synthetic logs: airspeed, bank angle, wing loading, pilot mass, sail twist, air
density.  Lion with a warmup that starts at exactly 0 followed by cosine warm
restarts; compiled step; early stopping that restores the best weights.
"""
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map
from functools import partial

logging.basicConfig(level=logging.INFO, format="[glide] %(levelname)s %(message)s")
log = logging.getLogger("polar")

mx.random.seed(7)


def logs(n, key):
    k1, k2 = mx.random.split(key)
    u = mx.random.uniform(shape=(n, 6), key=k1)
    v = 8.0 + 14.0 * u[:, 0]                 # airspeed m/s
    bank = 45.0 * u[:, 1]                     # degrees
    wl = 5.0 + 4.0 * u[:, 2]                  # wing loading kg/m2
    mass = 60.0 + 40.0 * u[:, 3]
    twist = u[:, 4]
    rho = 1.0 + 0.25 * u[:, 5]
    lf = 1.0 / mx.cos(bank * math.pi / 180.0)
    sink = (0.004 * v ** 2 + 20.0 * wl * lf ** 2 / (rho * v ** 2 * 6.0)) * (1.0 + 0.15 * twist) \
        + 0.002 * (mass - 80.0)
    sink = sink + 0.05 * mx.random.normal((n,), key=k2)
    x = mx.stack([(v - 15) / 4, bank / 13, (wl - 7) / 1.2, (mass - 80) / 11.5, twist * 2 - 1, (rho - 1.125) / 0.07], 1)
    return x, sink[:, None]


xtr, ytr = logs(4000, mx.random.key(11))
xva, yva = logs(800, mx.random.key(12))


class Polar(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(6, 64)
        self.mid = nn.Linear(64, 64)
        self.norm = nn.LayerNorm(64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.mid(self.norm(h)))
        return self.out(h)


model = Polar()
WARM, CYCLE, PEAK = 60, 250, 1e-3


def lr_at(step):
    step = step.astype(mx.float32)
    warm = PEAK * step / WARM
    t = mx.remainder(step - WARM, CYCLE) / CYCLE
    cos = 0.5 * PEAK * (1.0 + mx.cos(math.pi * t))
    return mx.where(step < WARM, warm, cos)


opt = optim.Lion(learning_rate=lr_at, betas=[0.9, 0.99], weight_decay=1e-3)


def mse(m, x, y):
    return mx.mean(mx.square(m(x) - y))


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, g = nn.value_and_grad(model, mse)(model, x, y)
    opt.update(model, g)
    return loss, g


B = 128
best, best_ep, best_w, patience, bad = float("inf"), 0, None, 6, 0
it = 0
g_norms = None
log.info("ep  |      lr  | train rmse | val rmse | best")
for ep in range(1, 61):
    perm = mx.random.permutation(xtr.shape[0])
    acc, nb = 0.0, 0
    for i in range(0, xtr.shape[0] - B + 1, B):
        idx = perm[i:i + B]
        if it == 0:
            before = mx.array(model.out.weight)
            mx.eval(before)
        loss, g = step(xtr[idx], ytr[idx])
        mx.eval(state, loss)
        if g_norms is None:
            moved0 = mx.abs(model.out.weight - before).max().item()
            g_norms = {k: mx.sqrt(mx.sum(v * v)).item() for k, v in tree_flatten(g)}
        acc += loss.item()
        nb += 1
        it += 1
    val = math.sqrt(mse(model, xva, yva).item())
    if val < best - 1e-4:
        best, best_ep, bad = val, ep, 0
        best_w = tree_map(lambda p: mx.array(p), model.parameters())
        mx.eval(best_w)
    else:
        bad += 1
    log.info(f"{ep:03d} | {opt.learning_rate.item():.2e} | {math.sqrt(acc / nb):8.4f}   | {val:7.4f}  | {best:.4f}@{best_ep}")
    if ep == 1:
        log.info(f"schedule lr at step 0 = {lr_at(mx.array(0)).item():.1e}, out.weight moved {moved0:.1e} on that step; grad norms at step 1: " +
                 ", ".join(f"{k}={v:.3f}" for k, v in g_norms.items()))
    if bad >= patience and ep > 20:
        log.warning(f"no val gain for {patience} epochs, stopping at {ep}")
        break

model.update(best_w)
final = math.sqrt(mse(model, xva, yva).item())
base = math.sqrt(mx.mean(mx.square(yva - mx.mean(ytr))).item())
log.info(f"restored epoch {best_ep}: val rmse {final:.4f} m/s (mean-sink baseline {base:.4f} m/s, noise floor 0.05)")
