"""Forecast the next month of a synthetic sunspot-like series (11-year cycle with
varying amplitude + noise) from the previous 36 months. Parameters are a plain dict;
the update is hand-written Nesterov momentum over tree_map; the learning rate
follows SGDR (cosine with warm restarts, periods 4, 8, 16 epochs), so the loss
jumps up a little at each restart. Progress is a \\r-redrawn bar on stderr; the
loss shown is a bias-corrected EMA; sMAPE is printed in percent."""
import math
import sys
import time

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten, tree_map

WIN, HID = 36, 128


def make_series(rng, months=30000):
    t = np.arange(months)
    amp = 80 + 60 * np.sin(2 * np.pi * t / 1100.0 + 1.0) + rng.normal(0, 5, months)
    phase = (t % 132) / 132.0
    base = amp * np.clip(np.sin(np.pi * phase), 0, None) ** 1.6
    return np.clip(base + rng.normal(0, 6 + 0.08 * base), 0, None).astype(np.float32)


def windows(s):
    X = np.lib.stride_tricks.sliding_window_view(s[:-1], WIN)
    return X.astype(np.float32), s[WIN:].astype(np.float32)


def init_params(key):
    k1, k2 = mx.random.split(key)
    return {"w1": mx.random.normal((WIN, HID), key=k1) * (1 / math.sqrt(WIN)),
            "b1": mx.zeros((HID,)),
            "w2": mx.random.normal((HID, 1), key=k2) * (1 / math.sqrt(HID)),
            "b2": mx.zeros((1,))}


def forward(p, x):
    h = mx.tanh(x @ p["w1"] + p["b1"])
    return (h @ p["w2"] + p["b2"]).squeeze(-1)


def huber(p, x, y):
    r = forward(p, x) - y
    a = mx.abs(r)
    return mx.mean(mx.where(a < 1.0, 0.5 * r * r, a - 0.5))


def sgdr_lr(epoch_float, lr_max=0.05, lr_min=5e-4, first=4):
    period, start = first, 0.0
    while epoch_float >= start + period:
        start += period
        period *= 2
    frac = (epoch_float - start) / period
    return lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * frac))


def smape_pct(pred, y, scale):
    p, t = np.array(pred) * scale, np.array(y) * scale
    return 100.0 * np.mean(2 * np.abs(p - t) / (np.abs(p) + np.abs(t) + 1.0))


def main():
    rng = np.random.default_rng(11)
    s = make_series(rng)
    scale = float(s.max()) / 4.0
    X, Y = windows(s / scale)
    cut = int(0.8 * len(X))
    Xtr, Ytr, Xva, Yva = X[:cut], Y[:cut], mx.array(X[cut:]), mx.array(Y[cut:])

    params = init_params(mx.random.key(3))
    vel = tree_map(mx.zeros_like, params)
    grad_fn = mx.value_and_grad(huber)
    mu = 0.9

    _, g0 = grad_fn(params, mx.array(Xtr[:64]), mx.array(Ytr[:64]))
    zero = [k for k, g in tree_flatten(g0) if float(mx.abs(g).max().item()) == 0.0]
    print(f"leaves={len(tree_flatten(g0))} zero_grad={zero or 'none'}")
    print(f"naive persistence sMAPE on val: {smape_pct(Xva[:, -1], Yva, scale):.1f}%")

    epochs, bs = 28, 64
    steps_per = len(Xtr) // bs
    ema, beta, n_seen = 0.0, 0.98, 0
    t0 = time.time()
    for ep in range(epochs):
        perm = rng.permutation(len(Xtr))
        for i in range(steps_per):
            idx = perm[i * bs:(i + 1) * bs]
            lr = sgdr_lr(ep + i / steps_per)
            loss, g = grad_fn(params, mx.array(Xtr[idx]), mx.array(Ytr[idx]))
            vel = tree_map(lambda v, gg: mu * v + gg, vel, g)
            params = tree_map(lambda p, v, gg: p - lr * (gg + mu * v), params, vel, g)
            mx.eval(params, vel, loss)
            n_seen += 1
            ema = beta * ema + (1 - beta) * loss.item()
            if i % 10 == 0:
                done = int(30 * (i + 1) / steps_per)
                sys.stderr.write(f"\r  ep {ep + 1:2d}/{epochs} [{'#' * done}{'.' * (30 - done)}] "
                                 f"lr {lr:.4f} loss~{ema / (1 - beta ** n_seen):.4f}")
                sys.stderr.flush()
        val = float(huber(params, Xva, Yva).item())
        sys.stderr.write("\r" + " " * 78 + "\r")
        print(f"epoch {ep + 1:2d}  lr_end {lr:.4f}  train_huber(ema) {ema / (1 - beta ** n_seen):.4f}  "
              f"val_huber {val:.4f}  val_sMAPE {smape_pct(forward(params, Xva), Yva, scale):5.1f}%  "
              f"{time.time() - t0:5.1f}s")


if __name__ == "__main__":
    main()
