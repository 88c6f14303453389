"""Recharge mound around a pumping well: inverse physics-informed fit.

Steady radial flow in a confined aquifer with areal recharge between an inner
observation ring (r = 5 m, head known) and the radius of influence (r = 500 m,
head known). In log-radius x = ln(r / r_in) / ln(r_out / r_in) and the
normalised head u = (h - h_in) / (h_out - h_in) the flow equation is

    u_xx = -S^2 * c * exp(2 S (x - 1)),   u(0) = 0, u(1) = 1,

with S = ln(r_out / r_in) and c = R r_out^2 / (T dH). The recharge R is known
from a lysimeter, the transmissivity T is not: we learn c (through log_c)
together with the head field from 10 noisy piezometer readings.

The Dirichlet conditions are built into the network output (u = x + x(1-x) N),
so no boundary loss is needed. Two stages: stage 1 mostly fits the data with a
tiny physics weight, stage 2 turns the physics weight up to 1 (the printed total
loss jumps up at the switch; that is the larger weight, not a setback).
Losses are printed as log10, so they are negative numbers.
"""

import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

mx.random.seed(7)
rng = np.random.default_rng(7)

R_IN, R_OUT = 5.0, 500.0
S = math.log(R_OUT / R_IN)
RECHARGE = 1.0e-3          # m/day
DH = 10.0                  # h_out - h_in, m
T_TRUE = 250.0             # m^2/day
C_TRUE = RECHARGE * R_OUT ** 2 / (T_TRUE * DH)
NOISE = 0.002              # in units of u (2 cm of head)


def exact_u(x, c):
    e0 = math.exp(-2.0 * S)
    a = c / 4.0 * e0
    b = 1.0 + c / 4.0 - a
    return a + b * x - c / 4.0 * np.exp(2.0 * S * (x - 1.0))


x_obs = np.sort(rng.uniform(0.05, 0.97, size=10)).astype(np.float32)
u_obs = (exact_u(x_obs, C_TRUE) + NOISE * rng.standard_normal(10)).astype(np.float32)
x_obs_m, u_obs_m = mx.array(x_obs), mx.array(u_obs)

x_grid = np.linspace(0.0, 1.0, 201).astype(np.float32)
u_grid = exact_u(x_grid, C_TRUE)


class HeadNet(nn.Module):
    def __init__(self, width=32):
        super().__init__()
        self.l1 = nn.Linear(1, width)
        self.l2 = nn.Linear(width, width)
        self.l3 = nn.Linear(width, 1)
        self.log_c = mx.array(math.log(0.3))

    def raw(self, x):
        h = mx.tanh(self.l1(x))
        h = mx.tanh(self.l2(h))
        return self.l3(h)

    def __call__(self, x):
        # x: (N,) -> u: (N,) with u(0) = 0 and u(1) = 1 exactly
        n = self.raw(x[:, None])[:, 0]
        return x + x * (1.0 - x) * n


model = HeadNet()
mx.eval(model.parameters())


def u_scalar(x):
    return model(x[None])[0]


u_xx_fn = mx.vmap(mx.grad(mx.grad(u_scalar)))


def losses(x_col, w_pde):
    u_pred = model(x_obs_m)
    data = mx.mean((u_pred - u_obs_m) ** 2)
    c = mx.exp(model.log_c)
    res = u_xx_fn(x_col) + S * S * c * mx.exp(2.0 * S * (x_col - 1.0))
    pde = mx.mean(res ** 2)
    return data + w_pde * pde, data, pde


def loss_fn(x_col, w_pde):
    return losses(x_col, w_pde)[0]


STAGE1, STAGE2 = 600, 1400
WARMUP = 150
lr_sched = optim.join_schedules(
    [
        optim.linear_schedule(0.0, 1e-2, WARMUP),
        optim.cosine_decay(1e-2, STAGE1 + STAGE2 - WARMUP, end=3e-4),
    ],
    [WARMUP],
)
opt = optim.Adam(learning_rate=lr_sched)
vg = nn.value_and_grad(model, loss_fn)


def report(tag, step, x_col, w_pde):
    total, data, pde = losses(x_col, w_pde)
    c = math.exp(model.log_c.item())
    t_est = RECHARGE * R_OUT ** 2 / (c * DH)
    print(
        f"{tag} step {step:5d} lr {opt.learning_rate.item():.2e} "
        f"log10 total {math.log10(total.item()):+.3f} "
        f"log10 data {math.log10(data.item()):+.3f} "
        f"log10 pde {math.log10(pde.item()):+.3f} T_est {t_est:8.1f} m2/d"
    )


# Baselines a hydrogeologist would quote without the recharge term
thiem_rmse = float(np.sqrt(np.mean((x_grid - u_grid) ** 2))) * DH
print(f"setup: S={S:.3f} c_true={C_TRUE:.4f} T_true={T_TRUE:.0f} m2/d, "
      f"10 piezometers, noise {NOISE * DH * 100:.0f} cm")
print(f"baseline (plain Thiem, no recharge) head RMSE on grid: {thiem_rmse * 100:.2f} cm")
print(f"noise floor for the data term: log10(noise^2) = {math.log10(NOISE ** 2):+.3f}")

t0 = time.time()
step = 0
for stage, (n_steps, w_pde) in enumerate([(STAGE1, 0.01), (STAGE2, 1.0)], start=1):
    print(f"--- stage {stage}: physics weight {w_pde} for {n_steps} steps ---")
    for i in range(n_steps):
        # fresh jittered collocation points each step
        x_col = mx.array(((np.arange(48) + rng.uniform(0, 1, 48)) / 48.0).astype(np.float32))
        loss, grads = vg(x_col, w_pde)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if step % 200 == 0:
            report(f"s{stage}", step, x_col, w_pde)
        step += 1
    report(f"s{stage} end", step, x_col, w_pde)

u_fit = np.array(model(mx.array(x_grid)))
rmse = float(np.sqrt(np.mean((u_fit - u_grid) ** 2))) * DH
c_est = math.exp(model.log_c.item())
t_est = RECHARGE * R_OUT ** 2 / (c_est * DH)
print(f"final: T_est {t_est:.1f} m2/d (true {T_TRUE:.0f}), rel err {abs(t_est - T_TRUE) / T_TRUE * 100:.1f}%")
print(f"final: head RMSE on grid {rmse * 100:.2f} cm vs Thiem baseline {thiem_rmse * 100:.2f} cm")
print(f"elapsed {time.time() - t0:.1f}s")
