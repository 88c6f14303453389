"""Observation-wheel maintenance: predict gondola pivot-bearing vibration (mm/s RMS).

Synthetic inspection rows: wind speed, passenger load, hours since greasing, ambient temp,
rotation speed, pivot clearance, a sea-spray index and two unused log columns.  A SiLU MLP
whose hidden layers use DropConnect (a Bernoulli mask on the weight matrix while training,
the expected weight at evaluation).  The keep probability is raised from 0.5 to 0.9 over the
run, the learning rate warms up linearly from 0 and then follows a cosine decay.
Report blocks are YAML-like.
"""

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(77)


def rows(n):
    wind = rng.gamma(2.0, 3.0, n)
    load = rng.uniform(0, 8, n)
    hrs = rng.uniform(0, 400, n)
    temp = rng.normal(12, 8, n)
    rpm = rng.uniform(0.6, 1.4, n)
    clear = rng.normal(0.3, 0.08, n)
    spray = rng.beta(2, 5, n)
    junk = rng.normal(0, 1, (n, 2))
    v = (0.8 + 0.09 * wind + 0.05 * load * rpm + 0.004 * hrs * (1 + spray)
         + 6.0 * np.maximum(clear - 0.32, 0) ** 1 * rpm - 0.01 * temp
         + 0.3 * np.sin(wind / 3.0))
    v = v + rng.normal(0, 0.15, n)
    x = np.column_stack([wind, load, hrs, temp, rpm, clear, spray, junk]).astype(np.float32)
    return x, v.astype(np.float32)


xtr, ytr = rows(5000)
xva, yva = rows(1200)
mu, sd = xtr.mean(0), xtr.std(0)
ym, ys = ytr.mean(), ytr.std()
Xtr, Xva = mx.array((xtr - mu) / sd), mx.array((xva - mu) / sd)
Ttr, Tva = mx.array((ytr - ym) / ys), mx.array((yva - ym) / ys)
baseline_rmse = float(np.sqrt(np.mean((yva - ytr.mean()) ** 2)))


class DCLinear(nn.Module):
    def __init__(self, din, dout):
        super().__init__()
        s = (1.0 / din) ** 0.5
        self.weight = mx.random.uniform(-s, s, (dout, din))
        self.bias = mx.zeros((dout,))
        self.keep = 1.0

    def __call__(self, x):
        w = self.weight
        if self.training and self.keep < 1.0:
            m = mx.random.bernoulli(self.keep, w.shape)
            w = mx.where(m, w / self.keep, 0.0)
        return x @ w.T + self.bias


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.h1 = DCLinear(9, 96)
        self.h2 = DCLinear(96, 96)
        self.out = nn.Linear(96, 1)

    def set_keep(self, p):
        self.h1.keep = p
        self.h2.keep = p

    def __call__(self, x):
        return self.out(nn.silu(self.h2(nn.silu(self.h1(x))))).squeeze(-1)


def mse(model, x, t):
    return ((model(x) - t) ** 2).mean()


mx.random.seed(3)
model = Net()
STEPS, WARM, BATCH = 1800, 150, 64
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 0.8, WARM), optim.cosine_decay(0.8, STEPS - WARM, 0.05)],
    [WARM])
opt = optim.AdaDelta(learning_rate=sched, rho=0.95)
lg = nn.value_and_grad(model, mse)

print("run:")
print(f"  rows_train: {len(ytr)}")
print(f"  mean_guess_rmse_mm_s: {baseline_rmse:.4f}")
print(f"  noise_sd_mm_s: 0.15")
print("reports:")
model.train()
w0 = np.array(model.h1.weight)
window = []
for step in range(1, STEPS + 1):
    keep = 0.5 + 0.4 * min(1.0, (step - 1) / (0.7 * STEPS))
    model.set_keep(keep)
    idx = mx.array(rng.integers(0, len(ytr), BATCH))
    lr_used = float(sched(opt.step))
    loss, g = lg(model, Xtr[idx], Ttr[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    if step == 1:
        moved = float(np.abs(np.array(model.h1.weight) - w0).max())
        print(f"  - step: 1\n    lr: {lr_used:.4f}\n    h1_max_move: {moved:.2e}")
    if step % 200 == 0 or step == STEPS:
        model.eval()
        pred = np.array(model(Xva)) * ys + ym
        model.train()
        rmse = float(np.sqrt(np.mean((pred - yva) ** 2)))
        print(f"  - step: {step}\n    lr: {lr_used:.4f}\n    keep_prob: {keep:.3f}\n"
              f"    masked_train_mse_std_units: {np.mean(window):.4f}\n"
              f"    val_rmse_mm_s: {rmse:.4f}\n    explained_pct: {100 * (1 - rmse**2 / baseline_rmse**2):.1f}")
        window = []
print("done: true")
