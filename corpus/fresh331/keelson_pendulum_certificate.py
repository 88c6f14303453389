"""Learn a Lyapunov certificate V(x) for a damped pendulum and check it on a grid.

Dynamics (theta, omega):  theta' = omega,  omega' = -sin(theta) - 0.5 * omega
Region of interest: |theta| <= 2.0, |omega| <= 2.0

V(x) = ||phi(x) - phi(0)||^2 + 0.05 * ||x||^2  (positive definite by construction)
Decrease condition:  dV/dt = grad_x V . f(x) <= -0.1 * ||x||^2
Loss: mean hinge relu(grad_x V . f(x) + 0.1 ||x||^2 + margin), computed with
mx.grad of V with respect to the states inside the loss.

Run plan: 600 steps, a checkpoint is written at step 300, the model and
optimizer are rebuilt from the checkpoint, and training resumes to 600.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(7)
rng = np.random.default_rng(7)

DAMP = 0.5
ALPHA = 0.1
MARGIN = 0.01
BOX = 2.0


def dynamics(x):
    th, om = x[:, 0], x[:, 1]
    return mx.stack([om, -mx.sin(th) - DAMP * om], axis=1)


class Certificate(nn.Module):
    def __init__(self, hidden=32, feat=8):
        super().__init__()
        self.l1 = nn.Linear(2, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.l3 = nn.Linear(hidden, feat)

    def features(self, x):
        h = mx.tanh(self.l1(x))
        h = mx.tanh(self.l2(h))
        return self.l3(h)

    def __call__(self, x):
        z = self.features(x) - self.features(mx.zeros((1, 2)))
        return mx.sum(z * z, axis=1) + 0.05 * mx.sum(x * x, axis=1)


def vdot(model, x):
    # per-sample gradient of V w.r.t. the state: V is a sum over independent rows
    gV = mx.grad(lambda s: mx.sum(model(s)))(x)
    return mx.sum(gV * dynamics(x), axis=1)


def loss_fn(model, x):
    r = vdot(model, x) + ALPHA * mx.sum(x * x, axis=1) + MARGIN
    return mx.mean(nn.relu(r))


def energy_vdot(x):
    # classical mechanical energy E = 0.5 om^2 + 1 - cos(th): dE/dt = -DAMP om^2
    return -DAMP * x[:, 1] ** 2


# evaluation grid (excluding a tiny ball around the equilibrium)
g = np.linspace(-BOX, BOX, 81).astype(np.float32)
G = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
G = G[np.linalg.norm(G, axis=1) > 0.05]
grid = mx.array(G)


def violation_rate(vd):
    need = -ALPHA * mx.sum(grid * grid, axis=1)
    return float(mx.mean((vd > need).astype(mx.float32)).item())


def sample(n):
    return mx.array(rng.uniform(-BOX, BOX, size=(n, 2)).astype(np.float32))


STEPS = 600
HALF = 300
WARM = 60
PEAK = 3e-3
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, STEPS - WARM, 1e-4)],
    [WARM],
)


def make_opt():
    return optim.Adam(learning_rate=sched)


model = Certificate()
opt = make_opt()
lg = nn.value_and_grad(model, loss_fn)

base_rate = violation_rate(energy_vdot(grid))
print(f"grid points: {grid.shape[0]}  baseline (mechanical energy) violation rate: {base_rate:.3f}")
print(f"untrained certificate violation rate: {violation_rate(vdot(model, grid)):.3f}")

ckpt_dir = tempfile.mkdtemp()
ckpt_w = os.path.join(ckpt_dir, "cert.safetensors")
ckpt_o = os.path.join(ckpt_dir, "opt.safetensors")

t0 = time.time()
step = 0
zero_streak = 0
while step < STEPS:
    x = sample(512)
    loss, grads = lg(model, x)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    step += 1
    lv = loss.item()
    zero_streak = zero_streak + 1 if lv == 0.0 else 0
    if step % 50 == 0 or step == 1:
        lr = float(opt.learning_rate.item()) if isinstance(opt.learning_rate, mx.array) else opt.learning_rate
        print(f"step {step:4d}  lr {lr:.2e}  hinge {lv:.6f}  zero-loss streak {zero_streak}")
    if step == HALF:
        model.save_weights(ckpt_w)
        mx.save_safetensors(ckpt_o, dict(tree_flatten(opt.state)))
        print(f"checkpoint written at step {step}, grid violation rate {violation_rate(vdot(model, grid)):.3f}")
        # simulate a restart: rebuild model and optimizer from disk
        model = Certificate()
        model.load_weights(ckpt_w)
        opt = make_opt()
        opt.state = tree_unflatten(list(mx.load(ckpt_o).items()))
        lg = nn.value_and_grad(model, loss_fn)
        print(f"resumed from checkpoint, optimizer step counter {int(opt.state['step'].item())}")

rate = violation_rate(vdot(model, grid))
print(f"final grid violation rate: {rate:.4f}  (baseline energy {base_rate:.3f})")

# closed-loop check: V must fall along simulated trajectories
x = mx.array(rng.uniform(-1.8, 1.8, size=(64, 2)).astype(np.float32))
v0 = model(x)
dt = 0.01
mono = mx.ones((64,), dtype=mx.bool_)
vprev = v0
for _ in range(400):
    k1 = dynamics(x)
    k2 = dynamics(x + 0.5 * dt * k1)
    k3 = dynamics(x + 0.5 * dt * k2)
    k4 = dynamics(x + dt * k3)
    x = x + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    v = model(x)
    mono = mono & (v <= vprev + 1e-6)
    vprev = v
mx.eval(mono, v, v0)
print(f"trajectories with monotone V: {int(mx.sum(mono).item())}/64  "
      f"mean V start {mx.mean(v0).item():.4f} -> end {mx.mean(v).item():.6f}")
print(f"done in {time.time() - t0:.1f}s")
