"""Lime kiln draw sheet: residual CO2 (%) left in the quicklime of each draw.

Top-2 mixture of experts with a mean and a log-variance head per expert
(Gaussian negative log-likelihood, so the objective drops below zero once
the spread is learned). Whole experts are switched off at random during
training only. AdamW under cosine warm restarts (cycles of 150, 300, 450
steps); the log is written once per cycle.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_EXPERTS = 6
TOP_K = 2
EXPERT_DROP = 0.25
CYCLES = [150, 300, 450]
BATCH = 96
LR_MAX = 4e-3


def draws(rng, n):
    stone = rng.integers(0, 3, n)                       # 0 chalk, 1 limestone, 2 dolomitic
    temp = rng.uniform(880, 1150, n)                    # burning-zone temperature, C
    hours = rng.uniform(6, 30, n)                       # residence time
    size = rng.uniform(20, 120, n)                      # stone size, mm
    fuel = rng.uniform(0.7, 1.3, n)                     # fuel ratio
    draft = rng.uniform(0, 1, n)
    k = np.array([1.6, 1.0, 0.7])[stone]
    rate = k * np.exp((temp - 1000) / 70) * hours / (size / 40) ** 1.4
    co2 = 42 * np.exp(-rate) * (1.1 - 0.2 * fuel) + 0.6 + 0.8 * (draft < 0.15)
    spread = np.array([0.3, 0.7, 1.6])[stone] * (1 + 0.8 * (draft < 0.15))
    y = np.clip(co2 + rng.normal(0, 1, n) * spread, 0.1, None)
    X = np.stack([stone == 0, stone == 1, stone == 2, (temp - 1000) / 80, hours / 12,
                  size / 50, fuel, draft], 1)
    return X.astype(np.float32), y.astype(np.float32)


class GaussExpert(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.l1 = nn.Linear(d, h)
        self.l2 = nn.Linear(h, h)
        self.out = nn.Linear(h, 2)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = h + nn.gelu(self.l2(h))
        return self.out(h)


class KilnMoE(nn.Module):
    def __init__(self, d_in):
        super().__init__()
        self.gate = nn.Linear(d_in, N_EXPERTS)
        self.experts = [GaussExpert(d_in, 48) for _ in range(N_EXPERTS)]

    def __call__(self, x, keep=None):
        logits = self.gate(x)
        if keep is not None:
            logits = mx.where(keep[None, :], logits, -1e9)
        kth = mx.stop_gradient(mx.sort(logits, axis=-1)[:, -TOP_K][:, None])
        logits = mx.where(logits >= kth, logits, -1e9)
        w = mx.softmax(logits, axis=-1)                         # (n, E)
        outs = mx.stack([e(x) for e in self.experts], axis=1)   # (n, E, 2)
        mean = mx.sum(w * outs[:, :, 0], axis=-1)
        logvar = mx.sum(w * outs[:, :, 1], axis=-1)
        return mean, mx.clip(logvar, -9.0, 5.0), w


def nll(mean, logvar, y):
    return mx.mean(0.5 * (logvar + (y - mean) ** 2 * mx.exp(-logvar) + math.log(2 * math.pi)))


def loss_fn(model, xb, yb, keep):
    mean, logvar, w = model(xb, keep)
    return nll(mean, logvar, yb)


rng = np.random.default_rng(11)
Xtr, ytr = draws(rng, 6000)
Xva, yva = draws(rng, 1500)
ymu, ysd = float(ytr.mean()), float(ytr.std())
Xtr_m, ytr_m = mx.array(Xtr), mx.array((ytr - ymu) / ysd)
Xva_m, yva_z = mx.array(Xva), mx.array((yva - ymu) / ysd)
const_nll = 0.5 * (math.log(2 * math.pi) + 1.0)           # predict-the-mean with unit variance


def evaluate(model):
    model.eval()
    mean, logvar, w = model(Xva_m)
    model.train()
    v_nll = float(nll(mean, logvar, yva_z))
    pred = np.array(mean) * ysd + ymu
    sd = np.sqrt(np.exp(np.array(logvar))) * ysd
    rmse = float(np.sqrt(np.mean((pred - yva) ** 2)))
    cover = float(np.mean(np.abs(pred - yva) <= 1.645 * sd))
    use = np.array(mx.mean((w > 0).astype(mx.float32), axis=0))
    return v_nll, rmse, cover, use


mx.random.seed(3)
model = KilnMoE(Xtr.shape[1])
model.train()
schedules = [optim.cosine_decay(LR_MAX, c, 5e-5) for c in CYCLES]
bounds = list(np.cumsum(CYCLES)[:-1])
opt = optim.AdamW(learning_rate=optim.join_schedules(schedules, bounds), weight_decay=1e-4)
grad_fn = nn.value_and_grad(model, loss_fn)
base_rmse = float(np.sqrt(np.mean((yva - ymu) ** 2)))
drop_rng = np.random.default_rng(5)
batch_rng = np.random.default_rng(6)

t0 = time.time()
v0 = evaluate(model)
print(f"kiln_draws: train {len(ytr)}  val {len(yva)}  residual CO2 mean {ymu:.2f}%  sd {ysd:.2f}%")
print(f"reference: mean_guess_rmse_pct {base_rmse:.3f}  unit_variance_nll {const_nll:.3f}")
print(f"untrained: val_nll {v0[0]:.3f}  rmse_pct {v0[1]:.3f}")
step = 0
for c, length in enumerate(CYCLES):
    run = []
    for _ in range(length):
        keep_np = drop_rng.random(N_EXPERTS) > EXPERT_DROP
        if keep_np.sum() < TOP_K:
            keep_np[drop_rng.choice(N_EXPERTS, TOP_K, replace=False)] = True
        idx = mx.array(batch_rng.integers(0, len(ytr), BATCH))
        loss, g = grad_fn(model, Xtr_m[idx], ytr_m[idx], mx.array(keep_np))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        run.append(float(loss))
        step += 1
    v_nll, rmse, cover, use = evaluate(model)
    print(f"cycle {c + 1}/{len(CYCLES)}:")
    print(f"  steps: {step}")
    print(f"  lr_at_cycle_end: {float(opt.learning_rate):.2e}")
    print(f"  train_nll_first20_last20: {np.mean(run[:20]):.3f} -> {np.mean(run[-20:]):.3f}")
    print(f"  val_nll: {v_nll:.3f}")
    print(f"  val_rmse_pct: {rmse:.3f}   (mean guess {base_rmse:.3f})")
    print(f"  coverage_90: {100 * cover:.1f}")
    print(f"  expert_use_pct: [{', '.join(f'{100 * u:.0f}' for u in use)}]")
print(f"finished: {step} steps in {time.time() - t0:.1f}s")
