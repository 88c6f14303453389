"""Steady heat conduction across a kiln wall with electric heating wires embedded in it.

-u''(x) = f(x) on [0,1], u(0)=0, u(1)=0.5 (scaled temperatures), source f = 4 pi^2 sin(2 pi x),
so the exact profile is u = sin(2 pi x) + 0.5 x.  Twelve thermocouples inside the wall read
u with gauge noise of sd 0.05, so their mean squared misfit cannot go below about 0.0025.

Gradient-enhanced PINN (gPINN, Yu et al. 2022): besides the residual r = u'' + f the loss
also penalises dr/dx, which needs the third input derivative (nested mx.grad three deep).
Training is split into two sessions: session 1 saves weights and optimizer state to disk,
session 2 builds a fresh model and optimizer, loads both and carries on.
"""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

NOISE_SD = 0.05
W_BC, W_DATA, W_GRAD = 10.0, 1.0, 0.01
rng = np.random.default_rng(3)
mx.random.seed(3)


def exact(x):
    return np.sin(2 * np.pi * x) + 0.5 * x


def source(x):
    return 4 * math.pi ** 2 * mx.sin(2 * math.pi * x)


class WallNet(nn.Module):
    def __init__(self, width=32):
        super().__init__()
        self.layers = [nn.Linear(1, width), nn.Linear(width, width), nn.Linear(width, 1)]

    def __call__(self, x):
        h = x[:, None]
        for layer in self.layers[:-1]:
            h = mx.tanh(layer(h))
        return self.layers[-1](h)[:, 0]


x_s = np.sort(rng.uniform(0.05, 0.95, 12))
y_s = exact(x_s) + rng.normal(0, NOISE_SD, x_s.shape)
x_sens, y_sens = mx.array(x_s.astype(np.float32)), mx.array(y_s.astype(np.float32))
x_bc, y_bc = mx.array([0.0, 1.0]), mx.array([0.0, 0.5])
floor = float(np.mean((y_s - exact(x_s)) ** 2))


def derivs(model, x):
    d1 = lambda z: mx.grad(lambda q: model(q).sum())(z)
    d2 = lambda z: mx.grad(lambda q: d1(q).sum())(z)
    d3 = mx.grad(lambda q: d2(q).sum())(x)
    return d2(x), d3


def loss_fn(model, x_col):
    u_xx, u_xxx = derivs(model, x_col)
    r = u_xx + source(x_col)
    dr = u_xxx + 8 * math.pi ** 3 * mx.cos(2 * math.pi * x_col)
    scale = 4 * math.pi ** 2
    pde = mx.mean((r / scale) ** 2)
    grad_term = mx.mean((dr / (scale * 2 * math.pi)) ** 2)
    bc = mx.mean((model(x_bc) - y_bc) ** 2)
    data = mx.mean((model(x_sens) - y_sens) ** 2)
    total = pde + W_GRAD * grad_term + W_BC * bc + W_DATA * data
    return total, (pde, grad_term, bc, data)


x_test = np.linspace(0, 1, 201)
u_test = exact(x_test)


def test_err(model):
    u = np.array(model(mx.array(x_test.astype(np.float32))))
    return float(np.linalg.norm(u - u_test) / np.linalg.norm(u_test))


def train(model, opt, steps, start, tag):
    step_fn = nn.value_and_grad(model, loss_fn)
    for i in range(steps):
        x_col = mx.array(rng.uniform(0, 1, 128).astype(np.float32))
        (loss, parts), grads = step_fn(model, x_col)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, parts)
        s = start + i + 1
        if s % 350 == 0:
            pde, g, bc, data = (p.item() for p in parts)
            print(f"[{tag}] step {s:4d}  loss {loss.item():.3e}  pde {pde:.2e}  dres {g:.2e}  "
                  f"bc {bc:.2e}  sensors {data:.2e} (noise floor {floor:.2e})  rel L2 {test_err(model):.4f}")
    return start + steps


print(f"12 thermocouples, gauge sd {NOISE_SD}; squared misfit of the exact profile: {floor:.2e}")
t0 = time.time()
ckpt_dir = tempfile.mkdtemp()

# session 1
model = WallNet()
mx.eval(model.parameters())
print(f"untrained rel L2 {test_err(model):.4f}")
sched1 = optim.join_schedules([optim.linear_schedule(0.0, 5e-3, 50), lambda _: 5e-3], [50])
opt = optim.Adam(learning_rate=sched1)
step = train(model, opt, 700, 0, "session 1")
model.save_weights(os.path.join(ckpt_dir, "wall.safetensors"))
mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
x_probe = mx.array(np.linspace(0, 1, 64).astype(np.float32))
before = loss_fn(model, x_probe)[0].item()
print(f"checkpoint written after {step} steps, probe loss {before:.4e}")
del model, opt

# session 2
model = WallNet()
model.load_weights(os.path.join(ckpt_dir, "wall.safetensors"))
opt = optim.Adam(learning_rate=optim.exponential_decay(5e-3, 0.998))
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
mx.eval(model.parameters(), opt.state)
after = loss_fn(model, x_probe)[0].item()
print(f"resumed: probe loss {after:.4e}, optimizer step counter {opt.state['step'].item()}")
step = train(model, opt, 700, step, "session 2")

err = test_err(model)
u_mid = np.array(model(mx.array([0.25, 0.75])))
print(f"done in {time.time() - t0:.1f}s after {step} steps: rel L2 {err:.4f}; "
      f"u(0.25)={u_mid[0]:.3f} (exact {exact(0.25):.3f}), u(0.75)={u_mid[1]:.3f} (exact {exact(0.75):.3f})")
