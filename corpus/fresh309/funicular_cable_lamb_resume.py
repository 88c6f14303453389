"""Funicular railway: peak haul-cable tension (kN) of a trip from 7 trip readings.

Synthetic data (made-up law). SiLU MLP trained with a LAMB optimizer written as
an mlx.optimizers.Optimizer subclass; its learning rate is a join_schedules
schedule that warms up from 0. The run is split into two sessions: session 1
checkpoints weights + optimizer state to a temp dir, session 2 rebuilds
everything from disk and finishes the schedule. Output is CSV on stdout.
"""
import csv
import math
import os
import sys
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

FEATS = ["load_t", "grade_pct", "speed_ms", "temp_c", "wind_ms", "sheave_wear", "wet"]


def make_data(n, rng):
    load = rng.uniform(2, 12, n)
    grade = rng.uniform(15, 45, n)
    speed = rng.uniform(3, 10, n)
    temp = rng.uniform(-10, 30, n)
    wind = rng.gamma(2.0, 2.5, n)
    wear = rng.uniform(0, 1, n)
    wet = (rng.random(n) < 0.3).astype(float)
    theta = np.arctan(grade / 100)
    tension = (9.81 * (load + 6.0) * (np.sin(theta) + (0.012 + 0.01 * wet) * np.cos(theta))
               + 0.35 * speed ** 1.5 + 0.08 * wind ** 2 + 6.0 * wear * (1 + 0.5 * wet)
               - 0.05 * temp + 12.0)
    tension += rng.normal(0, 1.2, n)
    X = np.stack([load, grade, speed, temp, wind, wear, wet], 1)
    return X.astype(np.float32), tension.astype(np.float32)


class Lamb(optim.Optimizer):
    def __init__(self, learning_rate, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01):
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.betas = betas
        self.eps = eps
        self.weight_decay = weight_decay

    def init_single(self, parameter, state):
        state["m"] = mx.zeros_like(parameter)
        state["v"] = mx.zeros_like(parameter)

    def apply_single(self, gradient, parameter, state):
        lr = self.learning_rate.astype(gradient.dtype)
        b1, b2 = self.betas
        t = self.step.astype(gradient.dtype)
        m = b1 * state["m"] + (1 - b1) * gradient
        v = b2 * state["v"] + (1 - b2) * mx.square(gradient)
        state["m"], state["v"] = m, v
        m_hat = m / (1 - b1 ** t)
        v_hat = v / (1 - b2 ** t)
        u = m_hat / (mx.sqrt(v_hat) + self.eps)
        if parameter.ndim > 1:
            u = u + self.weight_decay * parameter
            w_norm = mx.linalg.norm(parameter.flatten())
            u_norm = mx.linalg.norm(u.flatten())
            ratio = mx.where((w_norm > 0) & (u_norm > 0), w_norm / u_norm, 1.0)
        else:
            ratio = mx.array(1.0)
        return parameter - lr * ratio * u


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


TOTAL, WARM, PEAK, SPLIT, BATCH = 1400, 150, 4e-3, 700, 128


def schedule():
    return optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, TOTAL - WARM, 2e-5)],
        [WARM],
    )


def main():
    t0 = time.time()
    rng = np.random.default_rng(5)
    Xtr, ytr = make_data(12000, rng)
    Xva, yva = make_data(2000, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    ym, ys = ytr.mean(), ytr.std()
    xtr, xva = mx.array((Xtr - mu) / sd), mx.array((Xva - mu) / sd)
    ttr, yva_m = mx.array((ytr - ym) / ys), mx.array(yva)
    base_mae = float(np.abs(yva - ym).mean())

    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["session", "step", "lr", "train_mse_std", "val_mae_kN", "baseline_mae_kN", "note"])
    out.writerow([0, 0, "", "", "", f"{base_mae:.3f}", f"noise sd 1.2 kN -> floor MAE ~{1.2 * math.sqrt(2 / math.pi):.3f}"])

    def val_mae(model):
        pred = model(xva) * ys + ym
        return mx.mean(mx.abs(pred - yva_m)).item()

    ckpt = tempfile.mkdtemp(prefix="funicular_")
    order = np.random.default_rng(17).permutation(len(Xtr))
    cursor = 0

    def batch(step):
        i = (step * BATCH) % (len(order) - BATCH)
        return mx.array(order[i:i + BATCH])

    # ---------------- session 1 ----------------
    mx.random.seed(1)
    model = Net()
    opt = Lamb(learning_rate=schedule(), weight_decay=0.01)
    step_fn = nn.value_and_grad(model, loss_fn)
    before = {k: np.array(v) for k, v in tree_flatten(model.parameters())}
    window = []
    for step in range(1, SPLIT + 1):
        idx = batch(step)
        loss, grads = step_fn(model, xtr[idx], ttr[idx])
        lr_used = opt.learning_rate.item() if step > 1 else schedule()(0).item()
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        window.append(loss.item())
        if step == 1:
            moved = max(float(np.abs(np.array(v) - before[k]).max()) for k, v in tree_flatten(model.parameters()))
            out.writerow([1, 1, f"{lr_used:.2e}", f"{window[-1]:.4f}", f"{val_mae(model):.3f}", f"{base_mae:.3f}",
                          f"warm-up starts at lr 0; max weight change {moved:.1e}"])
        if step % 100 == 0:
            out.writerow([1, step, f"{opt.learning_rate.item():.2e}", f"{np.mean(window):.4f}",
                          f"{val_mae(model):.3f}", f"{base_mae:.3f}", ""])
            window = []
    model.save_weights(os.path.join(ckpt, "weights.safetensors"))
    mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
    lr_at_save = opt.learning_rate.item()
    out.writerow([1, SPLIT, f"{lr_at_save:.2e}", "", f"{val_mae(model):.3f}", f"{base_mae:.3f}", "checkpoint written"])
    del model, opt, step_fn

    # ---------------- session 2 ----------------
    mx.random.seed(2)
    model = Net()
    model.load_weights(os.path.join(ckpt, "weights.safetensors"))
    opt = Lamb(learning_rate=schedule(), weight_decay=0.01)
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
    step_fn = nn.value_and_grad(model, loss_fn)
    out.writerow([2, SPLIT, f"{opt.learning_rate.item():.2e}", "", f"{val_mae(model):.3f}", f"{base_mae:.3f}",
                  f"resumed at optimizer step {opt.step.item()}"])
    history = []
    for step in range(SPLIT + 1, TOTAL + 1):
        idx = batch(step)
        loss, grads = step_fn(model, xtr[idx], ttr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        history.append(loss.item())
    # session 2 runs without per-step output; summarise the tail afterwards
    for s in range(SPLIT + 175, TOTAL + 1, 175):
        seg = history[s - SPLIT - 175:s - SPLIT]
        out.writerow([2, s, "", f"{np.mean(seg):.4f}", "", f"{base_mae:.3f}", "segment mean"])
    out.writerow([2, TOTAL, f"{opt.learning_rate.item():.2e}", f"{np.mean(history[-100:]):.4f}",
                  f"{val_mae(model):.3f}", f"{base_mae:.3f}", f"done in {time.time() - t0:.1f}s"])


if __name__ == "__main__":
    main()
