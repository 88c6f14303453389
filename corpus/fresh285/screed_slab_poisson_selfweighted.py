"""Underfloor-heating screed slab: steady temperature rise in a square slab.

-(u_xx + u_yy) = q(x, y) on the unit square, u = 0 on the edges (the slab
edges sit on the cooled perimeter). The heat source q is the one whose exact
solution is u*(x, y) = sin(pi x) sin(pi y), so the fit can be scored.

Network: tanh MLP (x, y) -> u. Laplacian from nested mx.grad of the summed output w.r.t. the batched inputs.
Self-adaptive weights: every collocation point and every boundary point has
its own trainable weight lam >= 0. The network minimises the weighted loss,
the weights MAXIMISE it (gradient ascent with their own Adam), so the weighted
objective keeps rising while the plain residual and the error fall.
Every 300 steps, residual-based refinement adds the 64 worst candidate points.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
PI = math.pi


class SlabNet(nn.Module):
    def __init__(self, width=32):
        super().__init__()
        self.l1 = nn.Linear(2, width)
        self.l2 = nn.Linear(width, width)
        self.l3 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, p):
        h = mx.tanh(self.l1(p))
        h = mx.tanh(self.l2(h))
        h = mx.tanh(self.l3(h))
        return self.out(h)


def source(p):
    return 2 * PI * PI * mx.sin(PI * p[..., 0]) * mx.sin(PI * p[..., 1])


def exact(p):
    return mx.sin(PI * p[..., 0]) * mx.sin(PI * p[..., 1])


def residual(model, pts):
    # each output row depends only on its own input row, so the gradient of the
    # summed output w.r.t. the batched inputs is the per-point gradient
    def du(P):
        return mx.grad(lambda Q: model(Q).sum())(P)

    uxx = mx.grad(lambda P: du(P)[:, 0].sum())(pts)[:, 0]
    uyy = mx.grad(lambda P: du(P)[:, 1].sum())(pts)[:, 1]
    return -(uxx + uyy) - source(pts)


def boundary_points(n_side):
    s = mx.random.uniform(shape=(n_side,))
    z, o = mx.zeros((n_side,)), mx.ones((n_side,))
    return mx.concatenate([
        mx.stack([s, z], 1), mx.stack([s, o], 1),
        mx.stack([z, s], 1), mx.stack([o, s], 1)], 0)


col = mx.random.uniform(shape=(256, 2))
bnd = boundary_points(24)
lam_r = mx.ones((col.shape[0],))
lam_b = mx.ones((bnd.shape[0],))

grid = mx.stack(mx.meshgrid(mx.linspace(0, 1, 41), mx.linspace(0, 1, 41)), -1).reshape(-1, 2)
u_true = exact(grid)

model = SlabNet()
mx.eval(model.parameters())

WARM, STEPS, REFINE_EVERY = 120, 900, 300
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, STEPS - WARM, 2e-4)], [WARM])
opt_net = optim.Adam(learning_rate=sched)
opt_lam = optim.Adam(learning_rate=5e-3)


def objective(params, lam_r, lam_b, col, bnd):
    model.update(params)
    r = residual(model, col)
    b = model(bnd)[:, 0]
    return mx.mean(lam_r * r * r) + 10.0 * mx.mean(lam_b * b * b)


grad_all = mx.compile(mx.value_and_grad(objective, argnums=(0, 1, 2)))


def rel_l2():
    u = model(grid)[:, 0]
    return (mx.sqrt(mx.sum((u - u_true) ** 2)) / mx.sqrt(mx.sum(u_true ** 2))).item()


def plain_losses():
    r = residual(model, col)
    b = model(bnd)[:, 0]
    return mx.mean(r * r).item(), mx.mean(b * b).item()


zero_err = 1.0  # rel L2 error of the trivial guess u = 0
print(f"collocation {col.shape[0]}  boundary {bnd.shape[0]}  params "
      f"{sum(v.size for _, v in nn.utils.tree_flatten(model.parameters()))}")
print(f"baseline u=0: rel_l2 {zero_err:.3f}")
print("step   lr        weighted_obj  plain_res_mse  bnd_mse     rel_l2   lam_r_mean  lam_b_mean")
t0 = time.time()
for step in range(1, STEPS + 1):
    params = model.trainable_parameters()
    obj, (g_p, g_lr, g_lb) = grad_all(params, lam_r, lam_b, col, bnd)
    model.update(params)
    opt_net.update(model, g_p)
    # ascent on the per-point weights: step along +grad, keep them non-negative
    lam_state = {"r": lam_r, "b": lam_b}
    lam_state = opt_lam.apply_gradients({"r": -g_lr, "b": -g_lb}, lam_state)
    lam_r = mx.maximum(lam_state["r"], 0.0)
    lam_b = mx.maximum(lam_state["b"], 0.0)
    mx.eval(model.parameters(), opt_net.state, opt_lam.state, lam_r, lam_b, obj)

    if step % REFINE_EVERY == 0 and step < STEPS:
        cand = mx.random.uniform(shape=(3000, 2))
        rc = mx.abs(residual(model, cand))
        top = mx.argsort(-rc)[:64]
        col = mx.concatenate([col, cand[top]], 0)
        lam_r = mx.concatenate([lam_r, mx.full((64,), mx.mean(lam_r).item())], 0)
        opt_lam = optim.Adam(learning_rate=5e-3)  # lam shapes changed: fresh moments
        mx.eval(col, lam_r)
        print(f"  refine @ {step}: +64 points (worst |res| {rc[top[0]].item():.3f}); "
              f"collocation now {col.shape[0]}")

    if step == 1 or step % 100 == 0:
        pr, pb = plain_losses()
        print(f"{step:5d}  {opt_net.learning_rate.item():.2e}  {obj.item():12.5f}  {pr:13.5f}  "
              f"{pb:.3e}  {rel_l2():7.4f}  {mx.mean(lam_r).item():10.3f}  {mx.mean(lam_b).item():10.3f}")

err = rel_l2()
pr, pb = plain_losses()
print(f"final: rel_l2 {err:.4f} (u=0 baseline {zero_err:.3f})  plain residual mse {pr:.5f}  "
      f"boundary mse {pb:.2e}  time {time.time() - t0:.1f}s")
print("PASS" if err < 0.06 else "CHECK")
