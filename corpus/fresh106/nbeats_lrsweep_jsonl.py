"""Interpretable N-BEATS (trend + seasonality stacks) on synthetic monthly demand.

Step 1: learning-rate range test on a throw-away model (the loss is expected
        to blow up at the end of the sweep; the sweep stops itself).
Step 2: real training from FRESH weights at lr = (lr at min smoothed loss) / 10.

The polynomial / Fourier bases are fixed by design and frozen; only the
fully connected stacks learn. Everything is printed as JSON lines.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

LOOKBACK, HORIZON, PERIOD = 36, 12, 12


def emit(event, **kw):
    rec = {"event": event}
    for k, v in kw.items():
        rec[k] = round(v, 5) if isinstance(v, float) else v
    print(json.dumps(rec), flush=True)


# ----------------------------------------------------------------- data ----
def make_series(rng, n_series, length):
    t = np.arange(length, dtype=np.float64)
    out = np.empty((n_series, length))
    for i in range(n_series):
        level = rng.uniform(90, 160)
        slope = rng.normal(0, 0.2)
        curve = rng.normal(0, 0.001)
        amp = rng.uniform(5, 25)
        phase = rng.uniform(0, 2 * math.pi)
        second = rng.uniform(0, 0.4) * amp
        noise = rng.normal(0, rng.uniform(1.0, 4.0), size=length)
        out[i] = (level + slope * t + curve * t ** 2
                  + amp * np.sin(2 * math.pi * t / PERIOD + phase)
                  + second * np.sin(4 * math.pi * t / PERIOD + 2 * phase)
                  + noise)
    return out


def windows(series, start, stop):
    xs, ys = [], []
    for s in series:
        for a in range(start, stop - LOOKBACK - HORIZON + 1):
            xs.append(s[a:a + LOOKBACK])
            ys.append(s[a + LOOKBACK:a + LOOKBACK + HORIZON])
    xs, ys = np.asarray(xs), np.asarray(ys)
    scale = np.abs(xs).mean(axis=1, keepdims=True)
    return (xs / scale).astype(np.float32), (ys / scale).astype(np.float32), scale


# ---------------------------------------------------------------- model ----
def poly_basis(p, n, offset):
    t = (np.arange(n) + offset) / LOOKBACK
    return np.stack([t ** k for k in range(p)]).astype(np.float32)


def fourier_basis(harmonics, n, offset):
    t = np.arange(n) + offset
    rows = [np.ones(n)]
    for h in range(1, harmonics + 1):
        rows.append(np.cos(2 * math.pi * h * t / PERIOD))
        rows.append(np.sin(2 * math.pi * h * t / PERIOD))
    return np.stack(rows).astype(np.float32)


class BasisBlock(nn.Module):
    """FC stack -> expansion coefficients -> fixed basis (frozen)."""

    def __init__(self, basis_b, basis_f, width, backcast=True):
        super().__init__()
        self.fc1 = nn.Linear(LOOKBACK, width)
        self.fc2 = nn.Linear(width, width)
        self.fc3 = nn.Linear(width, width)
        n_theta = basis_b.shape[0]
        self.theta_f = nn.Linear(width, n_theta, bias=False)
        self.basis_f = mx.array(basis_f)
        # the last block's backcast would feed nothing, so it has no head
        if backcast:
            self.theta_b = nn.Linear(width, n_theta, bias=False)
            self.basis_b = mx.array(basis_b)

    def __call__(self, x):
        h = nn.relu(self.fc1(x))
        h = nn.relu(self.fc2(h))
        h = nn.relu(self.fc3(h))
        fore = self.theta_f(h) @ self.basis_f
        if "theta_b" not in self:
            return None, fore
        return self.theta_b(h) @ self.basis_b, fore


class NBeats(nn.Module):
    def __init__(self, width=64, blocks_per_stack=2):
        super().__init__()
        tb, tf = poly_basis(3, LOOKBACK, 0), poly_basis(3, HORIZON, LOOKBACK)
        sb, sf = fourier_basis(4, LOOKBACK, 0), fourier_basis(4, HORIZON, LOOKBACK)
        self.trend = [BasisBlock(tb, tf, width) for _ in range(blocks_per_stack)]
        self.season = [BasisBlock(sb, sf, width, backcast=i < blocks_per_stack - 1)
                       for i in range(blocks_per_stack)]
        self.freeze(recurse=True, keys=["basis_b", "basis_f"])

    def __call__(self, x):
        residual = x
        forecast = mx.zeros((x.shape[0], HORIZON))
        for block in self.trend + self.season:
            back, fore = block(residual)
            forecast = forecast + fore
            if back is not None:
                residual = residual - back
        return forecast


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def batches(rng, n, bs):
    while True:
        perm = rng.permutation(n)
        for i in range(0, n - bs + 1, bs):
            yield mx.array(perm[i:i + bs])


# ---------------------------------------------------------- evaluation ----
def evaluate(model, xv, yv, scale_v, naive_mae):
    pred = np.array(model(mx.array(xv))) * scale_v
    truth = yv * scale_v
    mae = np.abs(pred - truth).mean()
    smape = 200.0 * np.mean(np.abs(pred - truth) / (np.abs(pred) + np.abs(truth)))
    return float(mae / naive_mae), float(smape)


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    series = make_series(rng, 60, 144)
    xtr, ytr, _ = windows(series, 0, 120)
    xva, yva, sva = windows(series, 120 - LOOKBACK - HORIZON + 12, 144)
    # seasonal-naive reference: repeat the last observed season
    naive = xva[:, -PERIOD:] * sva
    naive_mae = float(np.abs(naive - yva * sva).mean())
    Xtr, Ytr = mx.array(xtr), mx.array(ytr)
    emit("data", train_windows=len(xtr), valid_windows=len(xva),
         seasonal_naive_mae=naive_mae)

    # ---------------------------------------------- 1. LR range test ----
    probe = NBeats()
    mx.eval(probe.parameters())
    lr_lo, lr_hi, n_sweep = 1e-5, 3.0, 120
    opt = optim.Adam(learning_rate=lr_lo)
    vg = nn.value_and_grad(probe, loss_fn)
    it = batches(rng, len(xtr), 256)
    smooth, best, best_lr, beta = 0.0, float("inf"), lr_lo, 0.9
    sweep = []
    for i in range(n_sweep):
        lr = lr_lo * (lr_hi / lr_lo) ** (i / (n_sweep - 1))
        opt.learning_rate = lr
        idx = next(it)
        loss, grads = vg(probe, Xtr[idx], Ytr[idx])
        opt.update(probe, grads)
        mx.eval(probe.parameters(), opt.state, loss)
        raw = loss.item()
        smooth = beta * smooth + (1 - beta) * raw
        s = smooth / (1 - beta ** (i + 1))
        sweep.append((lr, s))
        if s < best:
            best, best_lr = s, lr
        if i % 20 == 0:
            emit("lr_sweep", i=i, lr=lr, smoothed_loss=s)
        if not math.isfinite(raw) or s > 4 * best:
            emit("lr_sweep_stop", i=i, lr=lr, smoothed_loss=s, best=best,
                 reason="smoothed loss > 4x best (expected end of the sweep)")
            break
    chosen = min(best_lr / 10.0, 3e-3)
    emit("lr_chosen", lr_at_min=best_lr, lr=chosen)
    del probe, opt

    # ---------------------------------------- 2. real run, fresh weights ----
    mx.random.seed(2024)
    model = NBeats()
    mx.eval(model.parameters())
    frozen_before = {k: np.array(v) for k, v in tree_flatten(model.parameters())
                     if k.endswith("basis_b") or k.endswith("basis_f")}
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_frozen = sum(v.size for v in frozen_before.values())
    emit("model", trainable=n_train, frozen_basis=n_frozen)

    steps = 1200
    sched = optim.cosine_decay(chosen, steps, end=chosen * 0.05)
    opt = optim.Adam(learning_rate=sched)
    vg = nn.value_and_grad(model, loss_fn)
    rel_mae0, smape0 = evaluate(model, xva, yva, sva, naive_mae)
    emit("valid", step=0, rel_mae=rel_mae0, smape_pct=smape0)

    it = batches(rng, len(xtr), 128)
    t0, window = time.time(), []
    for step in range(1, steps + 1):
        idx = next(it)
        loss, grads = vg(model, Xtr[idx], Ytr[idx])
        if step == 1:
            flat = tree_flatten(grads)
            zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
            emit("grad_check", leaves=len(flat), all_zero=zero)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step % 150 == 0:
            rel_mae, smape = evaluate(model, xva, yva, sva, naive_mae)
            emit("valid", step=step, lr=float(opt.learning_rate),
                 train_mse=float(np.mean(window)), rel_mae=rel_mae, smape_pct=smape,
                 secs=time.time() - t0)
            window = []

    drift = max(float(np.abs(np.array(v) - frozen_before[k]).max())
                for k, v in tree_flatten(model.parameters()) if k in frozen_before)
    rel_mae, smape = evaluate(model, xva, yva, sva, naive_mae)
    emit("done", rel_mae=rel_mae, smape_pct=smape, basis_drift=drift,
         beats_seasonal_naive=bool(rel_mae < 1.0), secs=time.time() - t0)


if __name__ == "__main__":
    main()
