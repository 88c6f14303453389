"""Bobsleigh: finish time of a two-man run (seconds) from start and ice readings.

Momentum SGD with Nesterov look-ahead written by hand over tree_map, then a
stochastic-weight-averaging phase with a saw-tooth learning rate per epoch.
The averaged weights get their BatchNorm statistics measured again on the
training set before they are scored.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map

rng = np.random.default_rng(11)
mx.random.seed(11)


def make_runs(n):
    push = rng.normal(5.05, 0.12, n)          # start push time (s)
    mass = rng.uniform(360.0, 390.0, n)       # sled + crew (kg)
    ice = rng.uniform(-12.0, -2.0, n)         # ice temperature (C)
    air = ice + rng.normal(4.0, 3.0, n)       # air temperature (C)
    runner = rng.normal(0.0, 1.5, n)          # runner minus ice temperature (C)
    curves = rng.integers(14, 20, n).astype(np.float64)
    order = rng.integers(1, 31, n).astype(np.float64)   # start order (ice wear)
    wind = rng.normal(0.0, 1.5, n)            # head(+)/tail(-) wind (m/s)
    t = (49.0 + 2.4 * (push - 5.05) - 0.018 * (mass - 375.0)
         + 0.045 * np.abs(ice + 6.5) ** 1.3 - 0.05 * np.tanh(runner)
         + 0.21 * (curves - 16.0) + 0.004 * order + 0.05 * wind
         + 0.03 * (curves - 16.0) * (push - 5.05) * 10.0)
    t = t + rng.normal(0.0, 0.06, n)
    x = np.stack([push, mass, ice, air, runner, curves, order, wind], axis=1)
    return x.astype(np.float32), t.astype(np.float32)


x_tr, t_tr = make_runs(6000)
x_va, t_va = make_runs(1500)
mu, sd = x_tr.mean(0), x_tr.std(0)
t_mu, t_sd = float(t_tr.mean()), float(t_tr.std())
X_tr = mx.array((x_tr - mu) / sd)
X_va = mx.array((x_va - mu) / sd)
Y_tr = mx.array((t_tr - t_mu) / t_sd)
T_va = mx.array(t_va)


class SledNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 64)
        self.bn1 = nn.BatchNorm(64)
        self.fc2 = nn.Linear(64, 64)
        self.bn2 = nn.BatchNorm(64)
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.relu(self.bn1(self.fc1(x)))
        h = nn.relu(self.bn2(self.fc2(h)))
        return self.head(h).squeeze(-1)


def loss_fn(model, x, y):
    return mx.mean(mx.square(model(x) - y))


def rmse_seconds(model):
    model.eval()
    pred = model(X_va) * t_sd + t_mu
    r = mx.sqrt(mx.mean(mx.square(pred - T_va))).item()
    model.train()
    return r


def refresh_bn(model):
    """Measure BatchNorm statistics of the current weights on all training runs."""
    for bn in (model.bn1, model.bn2):
        bn.running_mean = mx.zeros_like(bn.running_mean)
        bn.running_var = mx.ones_like(bn.running_var)
        bn.momentum = 1.0
    model.train()
    model(X_tr)
    for bn in (model.bn1, model.bn2):
        bn.momentum = 0.1
    mx.eval(model.state)


EPOCHS_PLAIN, EPOCHS_SWA, BATCH = 12, 10, 100
MOM, WD = 0.9, 1e-4
steps_per_epoch = X_tr.shape[0] // BATCH

model = SledNet()
mx.eval(model.parameters())
velocity = tree_map(mx.zeros_like, model.trainable_parameters())
vg = nn.value_and_grad(model, loss_fn)


def nesterov_step(lr, grads):
    global velocity
    params = model.trainable_parameters()
    g = tree_map(lambda gi, p: gi + WD * p, grads, params)
    velocity = tree_map(lambda v, gi: MOM * v + gi, velocity, g)
    step = tree_map(lambda gi, v: gi + MOM * v, g, velocity)
    model.update(tree_map(lambda p, s: p - lr * s, params, step))


def lr_at(epoch, i):
    if epoch <= EPOCHS_PLAIN:
        frac = ((epoch - 1) * steps_per_epoch + i) / (EPOCHS_PLAIN * steps_per_epoch)
        return 0.01 + 0.5 * (0.05 - 0.01) * (1 + np.cos(np.pi * frac))
    # saw-tooth: every epoch restarts high and ends low; the average is taken at the low end
    return 0.03 - (0.03 - 0.003) * i / (steps_per_epoch - 1)


swa_params, n_avg = None, 0
swa_model = SledNet()

print(f"runs: {len(t_tr)} train / {len(t_va)} valid, finish time {t_mu:.2f} s +/- {t_sd:.2f}")
print(f"reference: mean-time RMSE {float(np.std(t_va)):.3f} s, timing noise 0.060 s")
print()
rule = "=====  =====  ===============  ==========  ==========  ==========  ====="
print(rule)
print("epoch  phase  lr first..last   train mse   iter RMSE   swa RMSE    sec")
print(rule)
t0 = time.time()
for epoch in range(1, EPOCHS_PLAIN + EPOCHS_SWA + 1):
    perm = mx.array(rng.permutation(X_tr.shape[0]))
    losses, lrs = [], []
    for i in range(steps_per_epoch):
        idx = perm[i * BATCH:(i + 1) * BATCH]
        loss, grads = vg(model, X_tr[idx], Y_tr[idx])
        lr = lr_at(epoch, i)
        nesterov_step(lr, grads)
        mx.eval(model.parameters(), model.state, velocity, loss)
        losses.append(loss.item())
        lrs.append(lr)
    phase = "plain" if epoch <= EPOCHS_PLAIN else "swa"
    swa_txt = "-"
    if phase == "swa":
        cur = model.trainable_parameters()
        if swa_params is None:
            swa_params, n_avg = tree_map(lambda p: p, cur), 1
        else:
            n_avg += 1
            swa_params = tree_map(lambda a, p: a + (p - a) / n_avg, swa_params, cur)
        mx.eval(swa_params)
        swa_model.update(swa_params)
        refresh_bn(swa_model)
        swa_txt = f"{rmse_seconds(swa_model):.4f}"
    print(f"{epoch:5d}  {phase:5s}  {lrs[0]:.4f}..{lrs[-1]:.4f}  {np.mean(losses):10.5f}  "
          f"{rmse_seconds(model):10.4f}  {swa_txt:>10s}  {time.time() - t0:5.1f}")
print(rule)

# the averaged weights scored once with the iterate's own BatchNorm statistics, once re-measured
swa_model.update(swa_params)
swa_model.bn1.running_mean, swa_model.bn1.running_var = model.bn1.running_mean, model.bn1.running_var
swa_model.bn2.running_mean, swa_model.bn2.running_var = model.bn2.running_mean, model.bn2.running_var
stale = rmse_seconds(swa_model)
refresh_bn(swa_model)
fresh = rmse_seconds(swa_model)
print()
print(f"averaged {n_avg} end-of-epoch snapshots")
print(f"valid RMSE  last iterate {rmse_seconds(model):.4f} s | average with iterate BN stats {stale:.4f} s"
      f" | average with re-measured BN stats {fresh:.4f} s | noise 0.060 s")
print(f"done in {time.time() - t0:.1f}s")
