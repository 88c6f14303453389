"""Heliciculture (snail farm) night-activity forecast.
From the last 24 hourly readings (relative humidity, air temp, rain mm, leaf wetness)
predict the fraction of the herd that emerges and feeds tonight.
Small GRU + sigmoid head, Adamax, LR warmup from exactly 0 followed by cosine
warm restarts (SGDR), repeated over three seeds.  Compiled train step."""
import json
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

T, F = 24, 4


def make_nights(n, rng):
    hum = np.clip(70 + 15 * rng.standard_normal((n, 1)) + 8 * np.sin(np.linspace(0, 2 * np.pi, T))[None]
                  + 3 * rng.standard_normal((n, T)), 30, 100)
    temp = 14 + 5 * rng.standard_normal((n, 1)) - 4 * np.sin(np.linspace(0, 2 * np.pi, T))[None] \
        + rng.standard_normal((n, T))
    rain = np.maximum(0, rng.gamma(0.3, 2.0, (n, T)) - 0.5)
    wet = np.clip(0.02 * (hum - 60) + 0.3 * np.cumsum(rain, axis=1) / (1 + np.arange(T)), 0, 1)
    # latent law: late-evening humidity, recent rain and mild temperature wake snails; cold/hot suppresses
    drive = (0.09 * (hum[:, -6:].mean(1) - 75) + 0.6 * np.log1p(rain[:, -8:].sum(1))
             - 0.05 * (temp[:, -4:].mean(1) - 16) ** 2 + 1.5 * wet[:, -1] - 0.3)
    frac = 1 / (1 + np.exp(-drive))
    frac = np.clip(frac + 0.03 * rng.standard_normal(n), 0, 1)
    x = np.stack([(hum - 70) / 15, (temp - 14) / 5, rain, wet], axis=-1).astype(np.float32)
    return mx.array(x), mx.array(frac.astype(np.float32))


class Forecaster(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.gru = nn.GRU(F, hidden)
        self.head = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = self.gru(x)[:, -1, :]
        return self.head(h).squeeze(-1)


def loss_fn(model, x, y):
    logits = model(x)
    return mx.mean(nn.losses.binary_cross_entropy(logits, y, with_logits=True))


def make_schedule(base_lr, warm, cycle, n_cycles):
    warmup = optim.linear_schedule(0.0, base_lr, warm)
    cos = [optim.cosine_decay(base_lr, cycle, end=base_lr * 0.02) for _ in range(n_cycles)]
    bounds = [warm + cycle * (i + 1) for i in range(n_cycles - 1)]
    return optim.join_schedules([warmup] + cos, [warm] + bounds)


def bar(done, total, width=20):
    k = int(width * done / total)
    return "#" * k + " " * (width - k)


def run_seed(seed, xtr, ytr, xva, yva, base_mae):
    mx.random.seed(seed)
    rng = np.random.default_rng(100 + seed)
    model = Forecaster()
    mx.eval(model.parameters())
    warm, cycle, n_cycles, bs = 40, 160, 2, 64
    total = warm + cycle * n_cycles
    opt = optim.Adamax(learning_rate=make_schedule(4e-3, warm, cycle, n_cycles))
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
        opt.update(model, grads)
        return loss

    t0 = time.time()
    run = 0.0
    n = xtr.shape[0]
    for it in range(1, total + 1):
        idx = mx.array(rng.integers(0, n, bs))
        lr_now = opt.learning_rate.item()
        loss = step(xtr[idx], ytr[idx])
        mx.eval(state, loss)
        run = loss.item() if it == 1 else 0.9 * run + 0.1 * loss.item()
        if it % 40 == 0 or it == 1:
            pred = mx.sigmoid(model(xva))
            mae = mx.mean(mx.abs(pred - yva)).item() * 100
            el = time.time() - t0
            print(f"seed {seed}: {100 * it // total:3d}%|{bar(it, total)}| {it}/{total} "
                  f"[{el:4.1f}s, lr={lr_now:.2e}, bce={run:.4f}, mae={mae:5.2f}pp vs clim {base_mae:5.2f}pp]")
    pred = mx.sigmoid(model(xva))
    mae = mx.mean(mx.abs(pred - yva)).item() * 100
    corr = float(np.corrcoef(np.array(pred), np.array(yva))[0, 1])
    return {"seed": seed, "steps": total, "val_mae_pp": round(mae, 3),
            "climatology_mae_pp": round(base_mae, 3), "pearson_r": round(corr, 4)}


def main():
    rng = np.random.default_rng(2024)
    xtr, ytr = make_nights(3000, rng)
    xva, yva = make_nights(600, rng)
    clim = ytr.mean()
    base_mae = mx.mean(mx.abs(clim - yva)).item() * 100
    results = []
    for seed in (0, 1, 2):
        res = run_seed(seed, xtr, ytr, xva, yva, base_mae)
        print(json.dumps(res))
        results.append(res)
    maes = [r["val_mae_pp"] for r in results]
    print(json.dumps({"summary": "3 seeds", "mean_val_mae_pp": round(float(np.mean(maes)), 3),
                      "std_val_mae_pp": round(float(np.std(maes)), 3), "climatology_mae_pp": round(base_mae, 3)}))


if __name__ == "__main__":
    main()
