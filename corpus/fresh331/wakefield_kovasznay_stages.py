"""Physics-informed network for steady 2-D Kovasznay flow (Navier-Stokes, Re = 20).

Outputs (u, v, p) of a tanh MLP on (x, y) in [-0.5, 1.0] x [-0.5, 1.5].
Stage A (steps 1-200):   boundary data only, the momentum/continuity weight is 0.
Stage B (steps 201-400): the residual weight ramps linearly from exactly 0 to 1.
Stage C (steps 401-800): residual weight 1, learning rate halved at step 650.
All input derivatives (first and second order) come from nested mx.grad w.r.t. the
collocation coordinates inside the loss.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
rng = np.random.default_rng(3)

RE = 20.0
LAM = RE / 2 - math.sqrt(RE ** 2 / 4 + 4 * math.pi ** 2)
X0, X1, Y0, Y1 = -0.5, 1.0, -0.5, 1.5


def exact(xy):
    x, y = xy[:, 0], xy[:, 1]
    e = np.exp(LAM * x)
    u = 1 - e * np.cos(2 * np.pi * y)
    v = LAM / (2 * np.pi) * e * np.sin(2 * np.pi * y)
    p = 0.5 * (1 - np.exp(2 * LAM * x))
    return np.stack([u, v, p], 1).astype(np.float32)


def boundary_points(n_side):
    t = rng.uniform(0, 1, size=(n_side,))
    sides = [
        np.stack([np.full_like(t, X0), Y0 + (Y1 - Y0) * t], 1),
        np.stack([np.full_like(t, X1), Y0 + (Y1 - Y0) * t], 1),
        np.stack([X0 + (X1 - X0) * t, np.full_like(t, Y0)], 1),
        np.stack([X0 + (X1 - X0) * t, np.full_like(t, Y1)], 1),
    ]
    return np.concatenate(sides).astype(np.float32)


class FlowNet(nn.Module):
    def __init__(self, width=40):
        super().__init__()
        self.layers = [nn.Linear(2, width), nn.Linear(width, width), nn.Linear(width, width)]
        self.head = nn.Linear(width, 3)
        self.shift = mx.array([X0 + X1, Y0 + Y1]) / 2
        self.scale = mx.array([X1 - X0, Y1 - Y0]) / 2

    def __call__(self, xy):
        h = (xy - self.shift) / self.scale
        for l in self.layers:
            h = mx.tanh(l(h))
        return self.head(h)


def residuals(model, xy):
    def comp(k):
        return lambda z: mx.sum(model(z)[:, k])

    gu = mx.grad(comp(0))
    gv = mx.grad(comp(1))
    gp = mx.grad(comp(2))
    du, dv, dp = gu(xy), gv(xy), gp(xy)
    u_xx = mx.grad(lambda z: mx.sum(gu(z)[:, 0]))(xy)[:, 0]
    u_yy = mx.grad(lambda z: mx.sum(gu(z)[:, 1]))(xy)[:, 1]
    v_xx = mx.grad(lambda z: mx.sum(gv(z)[:, 0]))(xy)[:, 0]
    v_yy = mx.grad(lambda z: mx.sum(gv(z)[:, 1]))(xy)[:, 1]
    out = model(xy)
    u, v = out[:, 0], out[:, 1]
    mom_x = u * du[:, 0] + v * du[:, 1] + dp[:, 0] - (u_xx + u_yy) / RE
    mom_y = u * dv[:, 0] + v * dv[:, 1] + dp[:, 1] - (v_xx + v_yy) / RE
    cont = du[:, 0] + dv[:, 1]
    return mom_x, mom_y, cont


def loss_fn(model, xy_b, uvp_b, xy_c, w_pde):
    bc = mx.mean(mx.sum((model(xy_b) - uvp_b) ** 2, axis=1))
    mx_, my_, c_ = residuals(model, xy_c)
    pde = mx.mean(mx_ ** 2 + my_ ** 2 + c_ ** 2)
    return bc + w_pde * pde, (bc, pde)


# held-out test grid
gx = np.linspace(X0, X1, 31)
gy = np.linspace(Y0, Y1, 41)
test = np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2).astype(np.float32)
test_true = exact(test)
test_mx = mx.array(test)


def rel_err(pred):
    e = np.linalg.norm(pred[:, :2] - test_true[:, :2]) / np.linalg.norm(test_true[:, :2])
    return float(e)


zero_flow = rel_err(np.zeros_like(test_true))
uniform_flow = rel_err(np.tile(np.array([[1.0, 0.0, 0.0]], np.float32), (len(test), 1)))
print(f"Kovasznay Re={RE:.0f} lambda={LAM:.4f}")
print(f"baselines: zero flow rel-L2 {zero_flow:.3f}, uniform stream u=1 rel-L2 {uniform_flow:.3f}")

model = FlowNet()
opt = optim.Adam(learning_rate=2e-3)
lg = nn.value_and_grad(model, loss_fn)

STAGE_A, STAGE_B, TOTAL, LR_DROP = 200, 400, 800, 650
t0 = time.time()
for step in range(1, TOTAL + 1):
    if step <= STAGE_A:
        w, stage = 0.0, "A"
    elif step <= STAGE_B:
        w, stage = (step - STAGE_A - 1) / (STAGE_B - STAGE_A - 1), "B"
    else:
        w, stage = 1.0, "C"
    if step == LR_DROP:
        opt.learning_rate = 1e-3
    xy_b = boundary_points(48)
    uvp_b = exact(xy_b)
    xy_c = rng.uniform([X0, Y0], [X1, Y1], size=(128, 2)).astype(np.float32)
    (loss, (bc, pde)), grads = lg(model, mx.array(xy_b), mx.array(uvp_b), mx.array(xy_c), w)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, bc, pde)
    if step % 50 == 0 or step in (1, STAGE_A + 1):
        err = rel_err(np.array(model(test_mx)))
        print(f"[{stage}] step {step:4d}  w_pde {w:.3f}  total {loss.item():.5f}  "
              f"boundary {bc.item():.5f}  residual {pde.item():.5f}  test rel-L2 {err:.4f}")

pred = np.array(model(test_mx))
err = rel_err(pred)
p_err = np.abs((pred[:, 2] - pred[:, 2].mean()) - (test_true[:, 2] - test_true[:, 2].mean())).max()
print(f"final velocity rel-L2 {err:.4f} (zero flow {zero_flow:.3f}, uniform {uniform_flow:.3f}); "
      f"pressure max abs dev (mean removed) {p_err:.4f}")
print(f"done in {time.time() - t0:.1f}s")
