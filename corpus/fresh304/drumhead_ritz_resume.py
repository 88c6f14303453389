# Drumhead membrane under a sinusoidal pressure load: -lap(u) = p(x, y) on the unit
# square, rim clamped (u = 0). Deep Ritz: minimise the potential energy
#   E[u] = integral( 0.5 * |grad u|^2 - p * u ) dx dy
# with the rim condition built in: u = x(1-x) y(1-y) N(x, y).
# The exact minimiser is sin(pi x) sin(pi y) with E* = -pi^2 / 4.
# Training is split in two sessions with a checkpoint in between.
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

E_STAR = -math.pi ** 2 / 4


class Membrane(nn.Module):
    def __init__(self, width=40):
        super().__init__()
        self.layers = [nn.Linear(2, width), nn.Linear(width, width), nn.Linear(width, 1)]

    def __call__(self, xy):
        h = xy
        for lin in self.layers[:-1]:
            h = mx.tanh(lin(h))
        n = self.layers[-1](h).squeeze(-1)
        x, y = xy[:, 0], xy[:, 1]
        return x * (1 - x) * y * (1 - y) * n


def load(xy):
    return 2 * math.pi ** 2 * mx.sin(math.pi * xy[:, 0]) * mx.sin(math.pi * xy[:, 1])


def energy(model, xy):
    u = model(xy)
    g = mx.grad(lambda z: model(z).sum())(xy)        # per-point gradient of u
    return mx.mean(0.5 * mx.sum(g * g, axis=1) - load(xy) * u)


def make_schedule(total):
    warm = optim.linear_schedule(0.0, 4e-3, 150)
    decay = optim.cosine_decay(4e-3, total - 150, end=1e-4)
    return optim.join_schedules([warm, decay], [150])


grid = np.linspace(0.0, 1.0, 41)
gx, gy = np.meshgrid(grid, grid)
GRID = mx.array(np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32))
EXACT = mx.sin(math.pi * GRID[:, 0]) * mx.sin(math.pi * GRID[:, 1])


def rel_l2(model):
    d = model(GRID) - EXACT
    return float(mx.sqrt(mx.sum(d * d) / mx.sum(EXACT * EXACT)))


TOTAL = 1800
print("step,session,lr,energy_mc,energy_exact,gap,rel_l2_pct,secs")


def run(model, opt, start, stop, session, key, t0):
    vg = nn.value_and_grad(model, energy)
    window = []
    for s in range(start, stop):
        key, sub = mx.random.split(key)
        xy = mx.random.uniform(shape=(512, 2), key=sub)
        lr_now = float(opt.learning_rate)
        e, grads = vg(model, xy)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, e)
        window.append(e.item())
        if s == 0 or (s + 1) % 150 == 0:
            em = float(np.mean(window))
            window = []
            print(f"{s + 1},{session},{lr_now:.2e},{em:.4f},{E_STAR:.4f},{em - E_STAR:.4f},"
                  f"{100 * rel_l2(model):.2f},{time.time() - t0:.1f}")
    return key


mx.random.seed(0)
key = mx.random.key(11)
t0 = time.time()
model = Membrane()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=make_schedule(TOTAL))
key = run(model, opt, 0, 900, "A", key, t0)

ckpt = tempfile.mkdtemp()
model.save_weights(os.path.join(ckpt, "membrane.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
mx.save_safetensors(os.path.join(ckpt, "key.safetensors"), {"key": key})

# session B: fresh objects restored from disk
model = Membrane()
model.load_weights(os.path.join(ckpt, "membrane.safetensors"))
opt = optim.Adam(learning_rate=make_schedule(TOTAL))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
key = mx.load(os.path.join(ckpt, "key.safetensors"))["key"]
mx.eval(model.parameters(), opt.state)
key = run(model, opt, 900, TOTAL, "B", key, t0)

print(f"done: energy target {E_STAR:.4f}, final rel L2 {100 * rel_l2(model):.2f}%, "
      f"centre deflection {float(model(mx.array([[0.5, 0.5]]))[0]):.4f} (exact 1.0000)")
