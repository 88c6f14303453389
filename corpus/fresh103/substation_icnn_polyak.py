"""District-heating substation: learn a cost model that is CONVEX in the three
things the operator can set (supply-temperature setpoint, relative flow, bypass
share), so that the learned model can be minimised afterwards.

The model is a small input-convex network (ICNN) in the controls u plus a
context network that adds a linear-in-u term and an offset from the weather /
demand context c. Convexity needs the z-path weights to stay >= 0, which is
done by projecting them after every optimizer step.

Evaluation uses Polyak (EMA) averaged weights; the printed train loss is a
bias-corrected EMA of the minibatch loss.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

RNG = np.random.default_rng(11)
mx.random.seed(11)


# ----------------------------------------------------------------- data ----
def optimum(c):
    t_out, demand, age = c[:, 0], c[:, 1], c[:, 2]
    ts_opt = 70.0 + 0.6 * (10.0 - t_out) + 5.0 * demand + 2.0 * age
    q_opt = 0.8 + 1.2 * demand
    return ts_opt, q_opt


def true_cost(u, c):
    ts, q, b = u[:, 0], u[:, 1], u[:, 2]
    ts_opt, q_opt = optimum(c)
    return (0.02 * (ts - ts_opt) ** 2 + 1.5 * (q - q_opt) ** 2 + 4.0 * b ** 2
            + 0.4 * np.log1p(np.exp(3.0 * (q - 2.4)))
            + 0.3 * c[:, 2] + 0.05 * c[:, 0] ** 2 / 10.0)


def make(n):
    c = np.stack([RNG.uniform(-15, 15, n),      # outdoor temperature C
                  RNG.uniform(0.2, 1.0, n),     # demand (share of design load)
                  RNG.uniform(0.0, 1.0, n)],    # pipe age (scaled)
                 axis=1)
    u = np.stack([RNG.uniform(60, 100, n),      # supply setpoint C
                  RNG.uniform(0.4, 3.0, n),     # relative flow
                  RNG.uniform(0.0, 0.3, n)],    # bypass share
                 axis=1)
    y = true_cost(u, c) + RNG.normal(0, 0.05, n)
    return u, c, y


u_tr, c_tr, y_tr = make(12000)
u_va, c_va, y_va = make(2000)
U_MU, U_SD = u_tr.mean(0), u_tr.std(0)
C_MU, C_SD = c_tr.mean(0), c_tr.std(0)
Y_MU, Y_SD = y_tr.mean(), y_tr.std()


def prep(u, c, y):
    return (mx.array(((u - U_MU) / U_SD).astype(np.float32)),
            mx.array(((c - C_MU) / C_SD).astype(np.float32)),
            mx.array(((y - Y_MU) / Y_SD).astype(np.float32)))


Utr, Ctr, Ytr = prep(u_tr, c_tr, y_tr)
Uva, Cva, Yva = prep(u_va, c_va, y_va)


# ---------------------------------------------------------------- model ----
class ConvexPart(nn.Module):
    """z1 = softplus(A0 u); z2 = softplus(Wz1 z1 + A1 u); out = wz2 . z2 + a2 . u"""

    def __init__(self, n_u=3, h=48):
        super().__init__()
        self.a0 = nn.Linear(n_u, h)
        self.a1 = nn.Linear(n_u, h)
        self.a2 = nn.Linear(n_u, 1)
        s = 1.0 / math.sqrt(h)
        self.wz1 = mx.random.uniform(0.0, s, (h, h))
        self.wz2 = mx.random.uniform(0.0, s, (h, 1))

    def __call__(self, u):
        z1 = nn.softplus(self.a0(u))
        z2 = nn.softplus(z1 @ self.wz1 + self.a1(u))
        return (z2 @ self.wz2 + self.a2(u)).squeeze(-1)

    def project(self):
        self.wz1 = mx.maximum(self.wz1, 0.0)
        self.wz2 = mx.maximum(self.wz2, 0.0)


class CostModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.convex = ConvexPart()
        self.ctx = nn.Sequential(nn.Linear(3, 48), nn.SiLU(), nn.Linear(48, 4))

    def __call__(self, u, c):
        h = self.ctx(c)                       # (B, 4): slope for each control + offset
        lin = mx.sum(h[:, :3] * u, axis=-1)   # linear in u -> convexity kept
        return self.convex(u) + lin + h[:, 3]


def loss_fn(model, u, c, y):
    return nn.losses.mse_loss(model(u, c), y)


model = CostModel()
mx.eval(model.parameters())

STEPS, BATCH, WARM = 4200, 128, 200
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 6e-3, WARM), optim.cosine_decay(6e-3, STEPS - WARM, 1e-4)],
    [WARM])
opt = optim.Adam(learning_rate=sched)
value_and_grad = nn.value_and_grad(model, loss_fn)

# Polyak / EMA copy of the weights used for every evaluation
EMA_DECAY = 0.99
ema = tree_map(lambda p: mx.array(p), model.parameters())


def with_weights(weights, fn):
    live = tree_map(lambda p: p, model.parameters())
    model.update(weights)
    out = fn()
    model.update(live)
    return out


def val_rmse():
    pred = model(Uva, Cva)
    return float(mx.sqrt(mx.mean((pred - Yva) ** 2)).item()) * Y_SD


def argmin_setpoints(n_ctx=6, iters=150, lr=0.05):
    """Minimise the learned cost over u for a few held-out contexts."""
    c = Cva[:n_ctx]
    u = mx.zeros((n_ctx, 3))
    g_u = mx.grad(lambda uu: mx.sum(model(uu, c)))
    lo = mx.array(((np.array([60, 0.4, 0.0]) - U_MU) / U_SD).astype(np.float32))
    hi = mx.array(((np.array([100, 3.0, 0.3]) - U_MU) / U_SD).astype(np.float32))
    for _ in range(iters):
        u = mx.clip(u - lr * g_u(u), lo, hi)
    mx.eval(u)
    u_real = np.array(u) * U_SD + U_MU
    ts_opt, _ = optimum(c_va[:n_ctx])
    return float(np.mean(np.abs(u_real[:, 0] - ts_opt)))


# ------------------------------------------------------ gradient check ----
idx0 = mx.array(RNG.choice(len(u_tr), BATCH, replace=False))
_, g0 = value_and_grad(model, Utr[idx0], Ctr[idx0], Ytr[idx0])
flat = tree_flatten(g0)
zero = [k for k, v in flat if float(mx.abs(v).max().item()) == 0.0]
print(f"grad check: {len(flat)} leaves, zero-gradient leaves: {zero if zero else 'none'}")
print(f"predict-the-mean val RMSE: {float(np.std(y_va)):.3f} cost units, noise floor 0.050")
print(f"untrained val RMSE: {val_rmse():.3f}   setpoint error of the learned argmin: "
      f"{argmin_setpoints():.1f} C")
print()
hdr = f"{'step':>5} {'lr':>9} {'train(ema)':>10} {'val rmse raw':>12} {'val rmse avg':>12} {'min wz':>8} {'sp err C':>8} {'s':>6}"
print(hdr)
print("-" * len(hdr))

perm = RNG.permutation(len(u_tr))
cursor = 0
ema_loss, t0 = 0.0, time.perf_counter()
for step in range(1, STEPS + 1):
    if cursor + BATCH > len(perm):
        perm, cursor = RNG.permutation(len(u_tr)), 0
    idx = mx.array(perm[cursor:cursor + BATCH])
    cursor += BATCH

    lr_now = float(sched(opt.step).item())
    loss, grads = value_and_grad(model, Utr[idx], Ctr[idx], Ytr[idx])
    opt.update(model, grads)
    model.convex.project()
    ema = tree_map(lambda e, p: EMA_DECAY * e + (1 - EMA_DECAY) * p, ema, model.parameters())
    mx.eval(model.parameters(), opt.state, ema, loss)

    ema_loss = 0.98 * ema_loss + 0.02 * loss.item()
    if step in (1, 50) or step % 300 == 0:
        train_ema = ema_loss / (1 - 0.98 ** step)
        raw = val_rmse()
        avg = with_weights(ema, val_rmse)
        sp = with_weights(ema, argmin_setpoints)
        wmin = min(float(model.convex.wz1.min().item()), float(model.convex.wz2.min().item()))
        print(f"{step:>5} {lr_now:>9.2e} {train_ema:>10.4f} {raw:>12.3f} {avg:>12.3f} "
              f"{wmin:>8.4f} {sp:>8.2f} {time.perf_counter() - t0:>6.1f}")

print()
print(f"done: val RMSE with averaged weights {with_weights(ema, val_rmse):.3f} "
      f"(noise 0.050); all z-path weights >= 0: "
      f"{bool((model.convex.wz1 >= 0).all().item() and (model.convex.wz2 >= 0).all().item())}")
