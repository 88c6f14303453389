"""Organ workshop: predict how many cents a flue pipe speaks off its nominal pitch
from bench measurements, before the voicer touches it.

Optimizer: a hand-written D-Adapted SGD (learning-rate free: the step size d is
estimated online and starts at 1e-6), multiplied by a schedule that warms up from
exactly 0 and then follows a cosine down to 0. Halfway the optimizer state is written
to disk, read back into a brand-new optimizer, and the run carries on from there.
"""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

SEED = 11
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

NOISE_CENTS = 3.0


def make_pipes(n):
    length = rng.uniform(0.15, 2.4, n)            # m, speaking length
    scale = rng.uniform(-4, 4, n)                 # halftones off normal scale
    diam = 0.155 * length ** 0.82 * 2 ** (-scale / 16)
    mouth = rng.uniform(0.2, 0.28, n)             # mouth width / circumference
    cutup = rng.uniform(0.22, 0.36, n)            # cut-up / mouth width
    wind = rng.uniform(55, 95, n)                 # mm water gauge
    temp = rng.uniform(12, 24, n)                 # C in the chamber
    c = 331.3 + 0.606 * temp
    end_corr = 0.6 * diam / 2 + 0.3 * diam * (0.25 / mouth) * (cutup / 0.29)
    f_real = c / (2 * (length + end_corr))
    f_nom = 343.0 / (2 * (length + 0.45 * 0.155 * length ** 0.82))
    cents = 1200 * np.log2(f_real / f_nom) + 0.09 * (wind - 75)
    cents = cents + NOISE_CENTS * rng.normal(size=n)
    X = np.stack([np.log(length), scale, mouth, cutup, wind, temp], axis=1)
    return X.astype(np.float32), cents.astype(np.float32)


Xtr, ytr = make_pipes(12000)
Xva, yva = make_pipes(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = float(ytr.mean()), float(ytr.std())
Xtr_m = mx.array((Xtr - mu) / sd)
Xva_m = mx.array((Xva - mu) / sd)
ytr_m = mx.array((ytr - ymu) / ysd)
yva_np = yva

print(f"pipes: train {len(ytr)}  valid {len(yva)}  target sd {ysd:.1f} cents")
print(f"reference: predict-the-mean RMSE {float(np.sqrt(np.mean((yva - ymu) ** 2))):.2f} cents,"
      f" bench noise floor {NOISE_CENTS:.1f} cents")


class PipeNet(nn.Module):
    def __init__(self, d_in=6, h=64):
        super().__init__()
        self.inp = nn.Linear(d_in, h)
        self.mid = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.mid(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return mx.mean((model(x) - y) ** 2)


class DAdaptSGD:
    """D-Adaptation for SGD with momentum (Defazio & Mishchenko, 2023)."""

    def __init__(self, params, d0=1e-6, momentum=0.9, growth_rate=float("inf")):
        self.momentum = momentum
        self.growth_rate = growth_rate
        flat = dict(tree_flatten(params))
        self.state = {
            "d": mx.array(d0),
            "numerator": mx.array(0.0),
            "g0_norm": mx.array(0.0),
            "k": mx.array(0),
        }
        for name, p in flat.items():
            self.state["x0." + name] = p
            self.state["z." + name] = p
            self.state["s." + name] = mx.zeros_like(p)

    def step(self, params, grads, lr_factor):
        st = self.state
        flat_p = dict(tree_flatten(params))
        flat_g = dict(tree_flatten(grads))
        if int(st["k"].item()) == 0:
            st["g0_norm"] = mx.sqrt(sum(mx.sum(g * g) for g in flat_g.values()))
        d = st["d"]
        dlr = d * lr_factor / st["g0_norm"]
        numerator = st["numerator"]
        sk_sq = mx.array(0.0)
        for name, g in flat_g.items():
            s = st["s." + name]
            numerator = numerator + dlr * mx.sum(g * s)
            s = s + dlr * g
            st["s." + name] = s
            sk_sq = sk_sq + mx.sum(s * s)
        st["numerator"] = numerator
        if lr_factor > 0.0:
            d_hat = 2.0 * numerator / mx.sqrt(sk_sq)
            st["d"] = mx.maximum(d, mx.minimum(d_hat, d * self.growth_rate))
        new_flat = {}
        for name, p in flat_p.items():
            z = st["z." + name] - dlr * flat_g[name]
            st["z." + name] = z
            new_flat[name] = self.momentum * p + (1.0 - self.momentum) * z
        st["k"] = st["k"] + 1
        return tree_unflatten(list(new_flat.items()))


def schedule(step, total, warm):
    if step < warm:
        return step / warm
    t = (step - warm) / max(1, total - warm)
    return 0.5 * (1.0 + math.cos(math.pi * t))


def valid_rmse(model):
    pred = np.array(model(Xva_m)) * ysd + ymu
    return float(np.sqrt(np.mean((pred - yva_np) ** 2)))


def within(model, tol):
    pred = np.array(model(Xva_m)) * ysd + ymu
    return 100.0 * float(np.mean(np.abs(pred - yva_np) <= tol))


model = PipeNet()
mx.eval(model.parameters())
opt = DAdaptSGD(model.parameters())
loss_and_grad = nn.value_and_grad(model, loss_fn)

TOTAL, WARM, BATCH, HALF = 2400, 120, 128, 1200
print(f"untrained: valid RMSE {valid_rmse(model):.2f} cents")
print(f"{'step':>5} {'sched':>6} {'d':>10} {'train_mse':>10} {'valid_rmse':>10} {'<=5c %':>7}")

t0 = time.time()
perm = rng.permutation(len(ytr))
cursor = 0
window = []
ckpt_dir = tempfile.mkdtemp(prefix="voicing_")
for step in range(TOTAL):
    if cursor + BATCH > len(perm):
        perm = rng.permutation(len(ytr))
        cursor = 0
    idx = mx.array(perm[cursor:cursor + BATCH])
    cursor += BATCH
    loss, grads = loss_and_grad(model, Xtr_m[idx], ytr_m[idx])
    lam = schedule(step, TOTAL, WARM)
    model.update(opt.step(model.parameters(), grads, lam))
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    if step % 150 == 0 or step == TOTAL - 1:
        tr = float(np.mean(window))
        window = []
        print(f"{step:5d} {lam:6.3f} {opt.state['d'].item():10.3e} {tr:10.4f}"
              f" {valid_rmse(model):10.2f} {within(model, 5.0):7.1f}")
    if step == HALF - 1:
        model.save_weights(os.path.join(ckpt_dir, "pipes.safetensors"))
        mx.save_safetensors(os.path.join(ckpt_dir, "dadapt.safetensors"), opt.state)
        before = valid_rmse(model)
        model = PipeNet()
        model.load_weights(os.path.join(ckpt_dir, "pipes.safetensors"))
        opt = DAdaptSGD(model.parameters())
        opt.state = dict(mx.load(os.path.join(ckpt_dir, "dadapt.safetensors")))
        loss_and_grad = nn.value_and_grad(model, loss_fn)
        mx.eval(model.parameters(), opt.state)
        print(f"resumed at step {step + 1}: valid RMSE {before:.2f} -> {valid_rmse(model):.2f},"
              f" d {opt.state['d'].item():.3e}, k {opt.state['k'].item()}")

print(f"final: valid RMSE {valid_rmse(model):.2f} cents (mean predictor"
      f" {float(np.sqrt(np.mean((yva - ymu) ** 2))):.2f}, noise floor {NOISE_CENTS:.1f});"
      f" within 5 cents {within(model, 5.0):.1f}%; {time.time() - t0:.1f}s")
