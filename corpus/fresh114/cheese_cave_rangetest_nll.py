"""Cheese cave: predict the 21-day pH of a wheel from its make sheet, with an
uncertainty band.  Gaussian NLL head (mean + log-variance).

First an LR range test on a throwaway copy (exponential sweep, it is expected
to blow up at the end), then the real run from the very same initial weights.
"""
import math
import os
import tempfile
import time
from dataclasses import dataclass

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map


@dataclass
class RangePoint:
    step: int
    lr: float
    smoothed_nll: float


@dataclass
class EpochStats:
    epoch: int
    lr: float
    train_nll: float
    valid_nll: float
    valid_rmse_ph: float
    coverage90_pct: float
    secs: float


def make_sheets(n, rng):
    milk_ph = rng.normal(6.65, 0.05, n)
    starter = rng.uniform(0.5, 3.0, n)          # % inoculum
    rennet_min = rng.uniform(25, 60, n)
    salt = rng.uniform(1.2, 2.4, n)              # % in curd
    cave_temp = rng.uniform(8, 14, n)
    humidity = rng.uniform(82, 96, n)
    press_h = rng.uniform(4, 16, n)
    x = np.stack([milk_ph, starter, rennet_min, salt, cave_temp, humidity, press_h], 1)
    acid = 0.35 * np.log1p(starter) + 0.012 * (cave_temp - 11) * starter - 0.18 * (salt - 1.8)
    ph = milk_ph - 1.2 - acid + 0.002 * (rennet_min - 40) + 0.01 * np.sin(press_h)
    # noisier wheels when the cave is warm and dry
    sd = 0.008 + 0.008 * (cave_temp - 8) / 6 + 0.01 * (96 - humidity) / 14
    y = ph + sd * rng.standard_normal(n)
    return x.astype(np.float32), y.astype(np.float32)


class PHNet(nn.Module):
    def __init__(self, d_in, hidden=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.mean = nn.Linear(hidden, 1)
        self.logvar = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.mean(h).squeeze(-1), self.logvar(h).squeeze(-1)


def gaussian_nll(model, x, y):
    mu, logvar = model(x)
    return mx.mean(0.5 * (logvar + (y - mu) ** 2 / mx.exp(logvar) + math.log(2 * math.pi)))


def batches(n, bs, rng):
    perm = rng.permutation(n)
    for i in range(0, n - bs + 1, bs):
        yield mx.array(perm[i:i + bs])


def evaluate(model, x, y, y_sd):
    mu, logvar = model(x)
    nll = gaussian_nll(model, x, y)
    err = (mu - y) * y_sd
    rmse = mx.sqrt(mx.mean(err ** 2))
    z = mx.abs(y - mu) / mx.exp(0.5 * logvar)
    cov = mx.mean((z < 1.6449).astype(mx.float32)) * 100
    mx.eval(nll, rmse, cov)
    return nll.item(), rmse.item(), cov.item()


def main():
    rng = np.random.default_rng(114)
    xtr, ytr = make_sheets(9000, rng)
    xva, yva = make_sheets(2000, rng)
    xm, xs = xtr.mean(0), xtr.std(0)
    ym, ys = ytr.mean(), ytr.std()
    Xtr = mx.array((xtr - xm) / xs); Ytr = mx.array((ytr - ym) / ys)
    Xva = mx.array((xva - xm) / xs); Yva = mx.array((yva - ym) / ys)
    print(f"wheels train={len(ytr)} valid={len(yva)}  pH mean={ym:.3f} sd={ys:.3f}")

    mx.random.seed(7)
    model = PHNet(xtr.shape[1])
    mx.eval(model.parameters())
    tmp = tempfile.mkdtemp(prefix="cheesecave_")
    init_path = os.path.join(tmp, "init.safetensors")
    model.save_weights(init_path)

    loss_and_grad = nn.value_and_grad(model, gaussian_nll)

    # gradient audit on the first batch
    idx = mx.arange(128)
    _, g = loss_and_grad(model, Xtr[idx], Ytr[idx])
    zero = [k for k, v in tree_flatten(g) if mx.max(mx.abs(v)).item() == 0.0]
    print(f"grad audit: {len(tree_flatten(g))} leaves, zero={zero}")

    # ---- LR range test on the throwaway weights ----
    lo, hi, n_sweep = 1e-5, 1.0, 150
    sweep_opt = optim.Adam(learning_rate=lo)
    sm, best_sm, best_lr = 0.0, float("inf"), lo
    bs = 64
    for t in range(n_sweep):
        lr = lo * (hi / lo) ** (t / (n_sweep - 1))
        sweep_opt.learning_rate = lr
        idx = mx.array(rng.integers(0, len(ytr), bs))
        loss, g = loss_and_grad(model, Xtr[idx], Ytr[idx])
        sweep_opt.update(model, g)
        mx.eval(model.parameters(), sweep_opt.state, loss)
        lv = loss.item()
        if not math.isfinite(lv):
            print(RangePoint(t + 1, lr, float("nan")))
            print(f"range test stopped at step {t + 1}: loss is not finite (expected at the top of the sweep)")
            break
        sm = 0.9 * sm + 0.1 * lv
        sm_c = sm / (1 - 0.9 ** (t + 1))
        if sm_c < best_sm:
            best_sm, best_lr = sm_c, lr
        if (t + 1) % 15 == 0:
            print(RangePoint(t + 1, lr, sm_c))
        if sm_c > best_sm + 4.0 and t > 20:
            print(RangePoint(t + 1, lr, sm_c))
            print(f"range test stopped at step {t + 1}: smoothed loss diverged (expected)")
            break
    peak_lr = best_lr / 10
    print(f"lowest smoothed NLL {best_sm:.3f} at lr {best_lr:.2e} -> peak lr {peak_lr:.2e}")

    # ---- real run, fresh weights (the same initial ones) ----
    model.load_weights(init_path)
    mx.eval(model.parameters())
    epochs = 14
    steps_per_epoch = len(ytr) // bs
    total = epochs * steps_per_epoch
    sched = optim.cosine_decay(peak_lr, total, peak_lr / 50)
    opt = optim.Adam(learning_rate=sched)
    v0 = evaluate(model, Xva, Yva, ys)
    print(EpochStats(0, 0.0, float("nan"), v0[0], v0[1], v0[2], 0.0))
    t0 = time.time()
    for ep in range(1, epochs + 1):
        tot, n = 0.0, 0
        for idx in batches(len(ytr), bs, rng):
            loss, g = loss_and_grad(model, Xtr[idx], Ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); n += 1
        v = evaluate(model, Xva, Yva, ys)
        print(EpochStats(ep, float(opt.learning_rate.item()), tot / n, v[0], v[1], v[2], round(time.time() - t0, 2)))
    print(f"done: valid NLL {v0[0]:.3f} -> {v[0]:.3f} (standardised units, lower is better, can go below 0); "
          f"rmse {v[1]:.4f} pH")


if __name__ == "__main__":
    main()
