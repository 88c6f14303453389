"""Invasive moth front on a heather strip: recover diffusion D and growth r of a
Fisher-KPP model u_t = D u_xx + r u (1 - u) from sparse noisy density counts.

u(x, t) = u0(x) + t * N(x, t)  (initial condition built into the network),
derivatives by forward mode (mx.jvp), two stages:
  A: fit the counts only, B: counts + equation residual (D, r trained).
Each stage builds a fresh optimizer whose learning rate warms up from exactly 0.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

np.random.seed(3)
mx.random.seed(3)

D_TRUE, R_TRUE, T_END = 0.02, 2.0, 1.0
NOISE = 0.01


def u0_np(x):
    return 0.9 * np.exp(-((x - 0.25) / 0.15) ** 2)


# reference solution: method of lines, explicit Euler, zero-flux ends
nx, nt = 101, 4001
xg = np.linspace(0.0, 1.0, nx)
dx, dt = xg[1] - xg[0], T_END / (nt - 1)
u = u0_np(xg)
snap_t = np.linspace(0.0, T_END, 21)
snaps, k_next = [], 0
for n in range(nt):
    t = n * dt
    if k_next < len(snap_t) and t >= snap_t[k_next] - 1e-12:
        snaps.append(u.copy()); k_next += 1
    lap = np.empty_like(u)
    lap[1:-1] = (u[2:] - 2 * u[1:-1] + u[:-2]) / dx ** 2
    lap[0] = 2 * (u[1] - u[0]) / dx ** 2
    lap[-1] = 2 * (u[-2] - u[-1]) / dx ** 2
    u = u + dt * (D_TRUE * lap + R_TRUE * u * (1 - u))
snaps = np.array(snaps)  # [21, nx]

# sparse noisy observations (skip t=0 which the ansatz already satisfies)
ti = np.random.randint(1, len(snap_t), 160)
xi = np.random.randint(0, nx, 160)
obs_X = np.stack([xg[xi], snap_t[ti]], 1).astype(np.float32)
obs_u = (snaps[ti, xi] + NOISE * np.random.randn(160)).astype(np.float32)[:, None]
# held-out grid for the field error
TT, XX = np.meshgrid(snap_t, xg, indexing="ij")
grid_X = mx.array(np.stack([XX.ravel(), TT.ravel()], 1).astype(np.float32))
grid_u = mx.array(snaps.ravel().astype(np.float32)[:, None])
obs_X, obs_u = mx.array(obs_X), mx.array(obs_u)
print(f"data: {obs_X.shape[0]} noisy counts (sd {NOISE}), reference grid {snaps.shape}, front reaches x={xg[np.argmax(snaps[-1] < 0.5)]:.2f} at t=1")


class FrontNet(nn.Module):
    def __init__(self, width=32):
        super().__init__()
        self.l1 = nn.Linear(2, width)
        self.l2 = nn.Linear(width, width)
        self.l2b = nn.Linear(width, width)
        self.l3 = nn.Linear(width, 1)
        self.log_D = mx.array(math.log(0.05))
        self.log_r = mx.array(math.log(1.0))

    def __call__(self, X):
        x, t = X[:, :1], X[:, 1:]
        h = mx.tanh(self.l1(2.0 * X - 1.0))
        h = mx.tanh(self.l2(h))
        h = mx.tanh(self.l2b(h))
        u0 = 0.9 * mx.exp(-(((x - 0.25) / 0.15) ** 2))
        return u0 + t * self.l3(h)


E_X = mx.array([[1.0, 0.0]])
E_T = mx.array([[0.0, 1.0]])


def residual(model, X):
    f = lambda Z: model(Z)
    ex = mx.broadcast_to(E_X, X.shape)
    et = mx.broadcast_to(E_T, X.shape)
    u, u_t = mx.jvp(f, [X], [et])
    u, u_t = u[0], u_t[0]
    u_x_fn = lambda Z: mx.jvp(f, [Z], [ex])[1][0]
    u_xx = mx.jvp(u_x_fn, [X], [ex])[1][0]
    D, r = mx.exp(model.log_D), mx.exp(model.log_r)
    return u_t - D * u_xx - r * u * (1.0 - u)


def loss_fn(model, X_col, w_res):
    data = mx.mean((model(obs_X) - obs_u) ** 2)
    res = mx.mean(residual(model, X_col) ** 2)
    return 10.0 * data + w_res * res, (data, res)


model = FrontNet()
mx.eval(model.parameters())


def vg(model, X_col, w_res):
    def f(m):
        total, _ = loss_fn(m, X_col, w_res)
        return total
    return nn.value_and_grad(model, f)(model)


def field_rmse():
    return math.sqrt(mx.mean((model(grid_X) - grid_u) ** 2).item())


stages = [("A counts-only", 300, 0.0, 1e-2), ("B counts+equation", 900, 1.0, 5e-3)]
print(f"{'stage':<18} {'step':>5} {'lr':>8} {'data mse':>10} {'resid mse':>10} {'field rmse':>10} {'D':>8} {'r':>7}")
print(f"{'(truth)':<18} {'':>5} {'':>8} {NOISE**2:>10.1e} {'':>10} {'':>10} {D_TRUE:>8.4f} {R_TRUE:>7.3f}")
t0 = time.time()
for name, n_steps, w_res, peak in stages:
    warm = 40
    sched = optim.join_schedules([optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, n_steps - warm, 2e-4)], [warm])
    opt = optim.Adam(learning_rate=sched)
    if w_res == 0.0:
        model.freeze(keys=["log_D", "log_r"])
    else:
        model.unfreeze(keys=["log_D", "log_r"])
    for step in range(n_steps):
        X_col = mx.concatenate([mx.random.uniform(shape=(192, 1)), mx.random.uniform(0.02, T_END, shape=(192, 1))], axis=1)
        lr_used = sched(mx.array(step)).item()
        loss, grads = vg(model, X_col, w_res)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step in (0, 1) or (step + 1) % 100 == 0:
            _, (d, r) = loss_fn(model, X_col, w_res)
            print(f"{name:<18} {step:>5d} {lr_used:>8.5f} {d.item():>10.2e} {r.item():>10.2e} {field_rmse():>10.4f} "
                  f"{math.exp(model.log_D.item()):>8.4f} {math.exp(model.log_r.item()):>7.3f}")
D_hat, r_hat = math.exp(model.log_D.item()), math.exp(model.log_r.item())
print(f"final: D {D_hat:.4f} (true {D_TRUE}, err {100*abs(D_hat-D_TRUE)/D_TRUE:.1f}%), r {r_hat:.3f} (true {R_TRUE}, err {100*abs(r_hat-R_TRUE)/R_TRUE:.1f}%), field rmse {field_rmse():.4f}, {time.time()-t0:.1f}s")
