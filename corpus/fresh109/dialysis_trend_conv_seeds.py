"""Haemodialysis session outcome from the machine's 4-hour trend log.

Each session is 16 readings (every 15 min) of 4 channels: systolic BP, ultrafiltration
rate, blood-pump flow, heart rate.  Outcome: 0 stable, 1 muscle cramps, 2 intradialytic
hypotension.  Sessions are synthetic (made-up physiology below).

Model: a FIXED first Conv1d holding hand-made trend filters (level, slope, curvature
per channel; frozen on purpose), then a trainable Conv1d, mean+max pooling and a
linear head with dropout.  The step is mx.compile'd with the model, optimiser and RNG
state passed as inputs/outputs.  Three seeds are trained one after another, each from
scratch.  Loss is printed in bits per session; err_pct is the error rate (lower is
better).  Output is one JSON object per line.
"""
import json
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

T, C, K = 16, 4, 3
LN2 = math.log(2.0)


def simulate(n, rng):
    y = rng.choice(3, size=n, p=[0.55, 0.25, 0.20])
    t = np.arange(T) / (T - 1)
    bp0 = rng.normal(140, 15, n)[:, None]
    uf0 = rng.uniform(0.4, 1.0, n)[:, None]
    qb = rng.normal(320, 30, n)[:, None] + rng.normal(0, 8, (n, T))
    hr0 = rng.normal(75, 9, n)[:, None]
    bp = bp0 - 6 * t + rng.normal(0, 4, (n, T))
    uf = uf0 + rng.normal(0, 0.05, (n, T))
    hr = hr0 + rng.normal(0, 3, (n, T))
    late = np.clip((t - rng.uniform(0.35, 0.7, n)[:, None]) * 3.0, 0, None)
    hypo = y == 2
    bp[hypo] -= 35 * late[hypo] ** 1.3
    hr[hypo] += 14 * late[hypo]
    cramp = y == 1
    uf[cramp] += 0.45 * late[cramp]
    bp[cramp] -= 8 * late[cramp]
    hr[cramp] += 4 * late[cramp]
    X = np.stack([bp, uf, qb, hr], axis=-1).astype(np.float32)   # N, L, C  (MLX layout)
    return X, y.astype(np.int32)


def trend_bank():
    """Conv1d weight (out, k, in): level/slope/curvature of each channel."""
    taps = np.array([[1 / 3, 1 / 3, 1 / 3], [-0.5, 0.0, 0.5], [1.0, -2.0, 1.0]],
                    dtype=np.float32)
    w = np.zeros((3 * C, K, C), dtype=np.float32)
    for c in range(C):
        for j in range(3):
            w[3 * c + j, :, c] = taps[j]
    return mx.array(w)


class SessionNet(nn.Module):
    def __init__(self, hidden=24, classes=3):
        super().__init__()
        self.trend = nn.Conv1d(C, 3 * C, K, padding=1, bias=False)
        self.trend.weight = trend_bank()
        self.mix = nn.Conv1d(3 * C, hidden, K, padding=1)
        self.drop = nn.Dropout(0.1)
        self.head = nn.Linear(2 * hidden, classes)

    def __call__(self, x):
        h = nn.gelu(self.mix(self.trend(x)))
        pooled = mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1)
        return self.head(self.drop(pooled))


def evaluate(model, X, y, bs=512):
    model.eval()
    nll, wrong = 0.0, 0
    for i in range(0, len(X), bs):
        logits = model(mx.array(X[i:i + bs]))
        yb = mx.array(y[i:i + bs])
        nll += nn.losses.cross_entropy(logits, yb, reduction="sum").item()
        wrong += int((mx.argmax(logits, axis=-1) != yb).sum().item())
    model.train()
    return nll / len(X) / LN2, 100.0 * wrong / len(X)


def run_seed(seed, data, epochs=12, bs=64):
    Xtr, ytr, Xva, yva = data
    mx.random.seed(seed)
    model = SessionNet()
    model.trend.freeze()                      # hand-made filters stay fixed
    mx.eval(model.parameters())
    trend_before = np.array(model.trend.weight)

    steps = epochs * (len(Xtr) // bs)
    warm = 60
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, steps - warm)],
        [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)

    def loss_fn(m, xb, yb):
        return nn.losses.cross_entropy(m(xb), yb, label_smoothing=0.05).mean()

    vg = nn.value_and_grad(model, loss_fn)

    # every trainable leaf should get a gradient on the first batch
    _, g0 = vg(model, mx.array(Xtr[:bs]), mx.array(ytr[:bs]))
    zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
    print(json.dumps({"seed": seed, "event": "grad_check",
                      "trainable_leaves": len(tree_flatten(g0)), "zero_grad": zero}))

    state = [model.state, opt.state, mx.random.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, grads = vg(model, xb, yb)
        opt.update(model, grads)
        return loss

    rng = np.random.default_rng(seed)
    va_bits, va_err = evaluate(model, Xva, yva)
    print(json.dumps({"seed": seed, "epoch": 0, "val_bits": round(va_bits, 4),
                      "err_pct": round(va_err, 2)}))
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(Xtr))
        tot, nb = 0.0, 0
        for i in range(0, len(Xtr) - bs + 1, bs):
            idx = order[i:i + bs]
            loss = step(mx.array(Xtr[idx]), mx.array(ytr[idx]))
            mx.eval(state, loss)
            tot += loss.item()
            nb += 1
        if epoch % 3 == 0 or epoch == 1:
            va_bits, va_err = evaluate(model, Xva, yva)
            print(json.dumps({"seed": seed, "epoch": epoch,
                              "train_bits_smoothed": round(tot / nb / LN2, 4),
                              "val_bits": round(va_bits, 4),
                              "err_pct": round(va_err, 2),
                              "lr": round(float(opt.learning_rate.item()), 6)}))
    moved = float(np.abs(np.array(model.trend.weight) - trend_before).max())
    return va_err, moved


def main():
    rng = np.random.default_rng(11)
    X, y = simulate(6000, rng)
    # per-channel standardisation from the training part only
    mu = X[:4800].mean(axis=(0, 1), keepdims=True)
    sd = X[:4800].std(axis=(0, 1), keepdims=True)
    X = (X - mu) / sd
    data = (X[:4800], y[:4800], X[4800:], y[4800:])
    t0 = time.time()
    errs = []
    for seed in (0, 1, 2):
        err, moved = run_seed(seed, data)
        errs.append(err)
        print(json.dumps({"seed": seed, "event": "done", "final_err_pct": round(err, 2),
                          "trend_filter_max_change": moved}))
    print(json.dumps({"event": "summary", "err_pct_mean": round(float(np.mean(errs)), 2),
                      "err_pct_sd": round(float(np.std(errs)), 2),
                      "wall_s": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main()
