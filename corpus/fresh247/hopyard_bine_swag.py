"""Hop yard: cone yield per plant (kg) from bine and field readings.

SWA-Gaussian (diagonal SWAG): SGD with momentum runs at a constant learning
rate after a short warm-up; from epoch 12 on, the first and second moments of
the weights are collected once per epoch.  At the end the SWA mean is used as a
point model, and weight samples from the diagonal Gaussian give a Bayesian
model average with a predictive variance.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

rng = np.random.default_rng(2471)
mx.random.seed(2471)

N_TRAIN, N_VALID = 6000, 1500
NOISE_SD = 0.12


def make_hop_yard(n):
    height = rng.uniform(5.0, 7.5, n)            # trellis height, m
    nitrogen = rng.uniform(80, 220, n)           # kg N / ha
    water = rng.uniform(150, 450, n)             # irrigation mm per season
    mildew = rng.gamma(1.5, 1.0, n)              # downy mildew score
    density = rng.uniform(2.0, 4.0, n)           # bines per hill
    variety = rng.integers(0, 3, n)              # 3 cultivars
    base = np.array([1.6, 2.1, 1.3])[variety]
    y = (base
         + 0.35 * (height - 6.0)
         + 0.9 * (1 - np.exp(-(nitrogen - 60) / 90.0))
         + 0.5 * np.tanh((water - 280) / 80.0)
         - 0.18 * mildew ** 1.2
         + 0.12 * (density - 3.0) - 0.1 * (density - 3.0) ** 2)
    y = y + rng.normal(0, NOISE_SD, n)
    onehot = np.eye(3)[variety]
    x = np.column_stack([height, nitrogen, water, mildew, density, onehot])
    return x.astype(np.float32), y.astype(np.float32)


x_tr, y_tr = make_hop_yard(N_TRAIN)
x_va, y_va = make_hop_yard(N_VALID)
mu, sd = x_tr[:, :5].mean(0), x_tr[:, :5].std(0)
x_tr[:, :5] = (x_tr[:, :5] - mu) / sd
x_va[:, :5] = (x_va[:, :5] - mu) / sd
X_tr, Y_tr = mx.array(x_tr), mx.array(y_tr)
X_va, Y_va = mx.array(x_va), mx.array(y_va)


class YieldNet(nn.Module):
    def __init__(self, d_in=8, width=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


model = YieldNet()
mx.eval(model.parameters())

EPOCHS, BATCH = 30, 64
SWA_START = 12
steps_per_epoch = N_TRAIN // BATCH
lr = optim.join_schedules(
    [optim.linear_schedule(0.0, 0.03, 120), lambda s: mx.array(0.03)], [120]
)
opt = optim.SGD(learning_rate=lr, momentum=0.9, weight_decay=1e-4)
loss_and_grad = nn.value_and_grad(model, mse)

# first and second moments of the weights (SWAG-diagonal)
swa_mean = tree_map(lambda p: mx.zeros_like(p), model.trainable_parameters())
swa_sq = tree_map(lambda p: mx.zeros_like(p), model.trainable_parameters())
swa_n = 0

base_rmse = float(mx.sqrt(mx.mean((Y_va - Y_tr.mean()) ** 2)))
print(f"data: {N_TRAIN} train / {N_VALID} valid plants, yield mean {y_tr.mean():.2f} kg")
print(f"baseline (predict train mean) valid RMSE {base_rmse:.4f} kg")
print(f"noise floor RMSE ~{NOISE_SD:.3f} kg (MSE ~{NOISE_SD**2:.4f})")

t0 = time.perf_counter()
for epoch in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(N_TRAIN))
    tot = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * BATCH:(i + 1) * BATCH]
        loss, grads = loss_and_grad(model, X_tr[idx], Y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    if epoch >= SWA_START:
        swa_n += 1
        params = model.trainable_parameters()
        swa_mean = tree_map(lambda m, p: m + (p - m) / swa_n, swa_mean, params)
        swa_sq = tree_map(lambda s, p: s + (p * p - s) / swa_n, swa_sq, params)
        mx.eval(swa_mean, swa_sq)
    if epoch < SWA_START or epoch % 3 == 0 or epoch == EPOCHS:
        va = float(mse(model, X_va, Y_va))
        msg = (f"epoch {epoch:2d}  train_mse {tot / steps_per_epoch:.5f}  "
               f"valid_rmse {math.sqrt(va):.4f}  lr {float(opt.learning_rate):.4f}")
        if swa_n:
            msg += f"  swag_snapshots {swa_n}"
        print(msg)

final_params = model.trainable_parameters()
final_rmse = math.sqrt(float(mse(model, X_va, Y_va)))

# SWA mean as a point model
model.update(swa_mean)
swa_rmse = math.sqrt(float(mse(model, X_va, Y_va)))
resid_var = float(mse(model, X_tr, Y_tr))

# diagonal Gaussian over weights, scaled by 1/2 as in the SWAG paper
var = tree_map(lambda s, m: mx.maximum(s - m * m, 1e-12), swa_sq, swa_mean)
flat_mean = tree_flatten(swa_mean)
flat_var = dict(tree_flatten(var))
S = 24
preds = []
for s in range(S):
    sample = [(k, m + mx.sqrt(0.5 * flat_var[k]) * mx.random.normal(m.shape))
              for k, m in flat_mean]
    model.update(tree_unflatten(sample))
    p = model(X_va)
    mx.eval(p)
    preds.append(p)
P = mx.stack(preds)
bma = P.mean(0)
epi_var = P.var(0)
bma_rmse = math.sqrt(float(mx.mean((bma - Y_va) ** 2)))
pred_var = epi_var + resid_var
nll = float(mx.mean(0.5 * mx.log(2 * math.pi * pred_var) + 0.5 * (Y_va - bma) ** 2 / pred_var))
cover = float(mx.mean(mx.abs(Y_va - bma) <= 1.96 * mx.sqrt(pred_var)))

print(f"final iterate   valid RMSE {final_rmse:.4f} kg")
print(f"SWA mean        valid RMSE {swa_rmse:.4f} kg  (from {swa_n} snapshots)")
print(f"SWAG BMA ({S})  valid RMSE {bma_rmse:.4f} kg")
print(f"SWAG predictive NLL {nll:.4f} nats/plant (negative: density above 1 per kg)")
print(f"95% interval coverage {cover:.3f}; mean epistemic sd {float(mx.sqrt(epi_var).mean()):.4f} kg")
print(f"baseline valid RMSE {base_rmse:.4f} kg; time {time.perf_counter() - t0:.1f}s")
