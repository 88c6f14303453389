"""Physics-informed net for the 1-D viscous Burgers equation
    u_t + u u_x = (0.01/pi) u_xx,  x in [-1,1], t in [0,1]
    u(0,x) = -sin(pi x),  u(t,-1) = u(t,1) = 0
Derivatives w.r.t. the inputs come from nested mx.grad; the PDE-residual weight
ramps from 0 to 1 over the first 400 steps (fit the data terms first)."""
import json
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

NU = 0.01 / math.pi
rng = np.random.default_rng(3)
mx.random.seed(3)


class PINN(nn.Module):
    def __init__(self, width=24, depth=3):
        super().__init__()
        dims = [2] + [width] * depth + [1]
        self.layers = [nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:])]

    def __call__(self, tx):
        h = tx
        for layer in self.layers[:-1]:
            h = mx.tanh(layer(h))
        return self.layers[-1](h)


def pde_residual(model, tx):
    u_sum = lambda p: model(p).sum()
    du = mx.grad(u_sum)                       # per-point (u_t, u_x): rows are independent
    ux_sum = lambda p: du(p)[:, 1].sum()
    d2 = mx.grad(ux_sum)(tx)                  # (u_xt, u_xx)
    g = du(tx)
    u = model(tx)[:, 0]
    return g[:, 0] + u * g[:, 1] - NU * d2[:, 1]


def sample_batch(n_col=256, n_ic=64, n_bc=64):
    col = np.stack([rng.uniform(0, 1, n_col), rng.uniform(-1, 1, n_col)], 1)
    x0 = rng.uniform(-1, 1, n_ic)
    ic = np.stack([np.zeros(n_ic), x0], 1)
    tb = rng.uniform(0, 1, n_bc)
    bc = np.stack([tb, np.where(rng.random(n_bc) < 0.5, -1.0, 1.0)], 1)
    f = lambda a: mx.array(a.astype(np.float32))
    return f(col), f(ic), f(-np.sin(np.pi * x0)), f(bc)


def loss_fn(model, col, ic, u0, bc, w_pde):
    l_pde = (pde_residual(model, col) ** 2).mean()
    l_ic = ((model(ic)[:, 0] - u0) ** 2).mean()
    l_bc = (model(bc)[:, 0] ** 2).mean()
    return w_pde * l_pde + l_ic + l_bc, (l_pde, l_ic, l_bc)


model = PINN()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=optim.cosine_decay(3e-3, 2400, end=3e-4))
step_fn = nn.value_and_grad(model, loss_fn)

# fixed held-out points for reporting
xs = np.linspace(-1, 1, 101, dtype=np.float32)
ic_eval = mx.array(np.stack([np.zeros_like(xs), xs], 1))
u0_eval = -np.sin(np.pi * xs)
col_eval = sample_batch(n_col=1024)[0]

t0 = time.perf_counter()
for step in range(1, 2401):
    w_pde = min(1.0, step / 400)
    col, ic, u0, bc = sample_batch()
    (loss, parts), grads = step_fn(model, col, ic, u0, bc, w_pde)
    if step == 1:
        flat = tree_flatten(grads)
        zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
        print(json.dumps({"event": "grad_check", "leaves": len(flat), "zero_grad": zero}))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, parts)
    if step % 300 == 0 or step == 1:
        r = pde_residual(model, col_eval)
        ic_err = np.abs(np.array(model(ic_eval)[:, 0]) - u0_eval).max()
        print(json.dumps({
            "step": step, "w_pde": round(w_pde, 3), "loss": round(loss.item(), 5),
            "pde_mse": round(parts[0].item(), 5), "ic_mse": round(parts[1].item(), 5),
            "bc_mse": round(parts[2].item(), 5),
            "heldout_residual_rms": round(float(mx.sqrt((r ** 2).mean())), 5),
            "ic_max_abs_err": round(float(ic_err), 4),
            "elapsed_s": round(time.perf_counter() - t0, 1)}))
