"""Electrostatic potential in a grounded square trough, physics-informed.

Solve -lap(phi) = rho on the unit square with phi = 0 on all four walls.
rho is chosen so that the exact potential is sin(pi x) sin(2 pi y)
(two charge lobes of opposite sign). The walls are built into the network
output (phi = x(1-x)y(1-y) * N(x, y)), so only the interior residual is
trained. Run in two sessions: session 1 saves a checkpoint, session 2
loads it into a fresh network and continues with its own warm-up.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

mx.random.seed(7)
PI = float(np.pi)


class Potential(nn.Module):
    def __init__(self, width=32):
        super().__init__()
        self.l1 = nn.Linear(2, width)
        self.l2 = nn.Linear(width, width)
        self.l3 = nn.Linear(width, 1)

    def __call__(self, xy):
        h = mx.tanh(self.l1(xy))
        h = mx.tanh(self.l2(h))
        x, y = xy[:, 0], xy[:, 1]
        wall = x * (1 - x) * y * (1 - y)
        return 16.0 * wall * self.l3(h)[:, 0]


def exact(xy):
    return mx.sin(PI * xy[:, 0]) * mx.sin(2 * PI * xy[:, 1])


def rho(xy):
    return 5.0 * PI * PI * exact(xy)


def laplacian(model, xy):
    def total(p):
        return model(p).sum()

    def dx_sum(p):
        return mx.grad(total)(p)[:, 0].sum()

    def dy_sum(p):
        return mx.grad(total)(p)[:, 1].sum()

    uxx = mx.grad(dx_sum)(xy)[:, 0]
    uyy = mx.grad(dy_sum)(xy)[:, 1]
    return uxx + uyy


def residual_loss(model, xy):
    r = laplacian(model, xy) + rho(xy)
    return mx.mean(r * r) / (PI ** 4)


g = np.linspace(0.0, 1.0, 41, dtype=np.float32)
gx, gy = np.meshgrid(g, g, indexing="ij")
grid = mx.array(np.stack([gx.ravel(), gy.ravel()], axis=1))
phi_ref = exact(grid)
ref_norm = mx.sqrt(mx.sum(phi_ref * phi_ref)).item()


def rel_l2(model):
    d = model(grid) - phi_ref
    return mx.sqrt(mx.sum(d * d)).item() / ref_norm


def make_opt(steps, peak):
    warm = optim.linear_schedule(0.0, peak, 80)
    decay = optim.cosine_decay(peak, steps - 80, end=peak * 0.05)
    return optim.RMSprop(learning_rate=optim.join_schedules([warm, decay], [80]), alpha=0.95)


def run_session(model, opt, steps, tag, batch=256):
    loss_and_grad = nn.value_and_grad(model, residual_loss)
    t0 = time.perf_counter()
    for step in range(steps):
        xy = mx.random.uniform(shape=(batch, 2))
        lr_now = opt.learning_rate.item()
        loss, grads = loss_and_grad(model, xy)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 120 == 0 or step == steps - 1:
            print(f"{tag},{step},{lr_now:.5f},{loss.item():.5f},{rel_l2(model):.4f},1.0000,"
                  f"{time.perf_counter() - t0:.1f}")


print("session,step,lr,residual,rel_l2,rel_l2_zero_guess,secs")
model = Potential()
mx.eval(model.parameters())
probe = mx.random.uniform(shape=(256, 2))
loss0, g0 = nn.value_and_grad(model, residual_loss)(model, probe)
from mlx.utils import tree_flatten

norms = [mx.linalg.norm(v).item() for _, v in tree_flatten(g0)]
print(f"# grad check: {len(norms)} tensors, min norm {min(norms):.3e}, max norm {max(norms):.3e}")

run_session(model, make_opt(600, 3e-3), 600, "s1")
ckpt = os.path.join(tempfile.mkdtemp(), "trough_s1.safetensors")
model.save_weights(ckpt)
before = residual_loss(model, probe).item()
err_before = rel_l2(model)

model2 = Potential()
model2.load_weights(ckpt)
mx.eval(model2.parameters())
after = residual_loss(model2, probe).item()
print(f"# checkpoint {os.path.basename(ckpt)}: probe residual {before:.6f} -> reloaded {after:.6f}, "
      f"rel_l2 {err_before:.4f} -> {rel_l2(model2):.4f}")

run_session(model2, make_opt(600, 1e-3), 600, "s2")
centre = mx.array([[0.5, 0.25], [0.5, 0.75]])
print(f"# lobes phi(0.5,0.25)={model2(centre)[0].item():+.4f} (exact +1.0000), "
      f"phi(0.5,0.75)={model2(centre)[1].item():+.4f} (exact -1.0000)")
print(f"# final rel_l2 {rel_l2(model2):.4f} vs zero-guess 1.0000")
