"""Belfry turret-clock drift forecaster.

A tower clock's pendulum gains or loses time with temperature and air
pressure; the keeper winds and nudges it once a day.  We forecast the next
12 hourly drift readings (seconds) from the last 48 hours of
(drift, temperature, pressure) with a tiny patch transformer.

Run plan: warm up the learning rate from 0, train half the steps, write a
checkpoint (weights + optimizer state), rebuild everything from scratch,
load the checkpoint and finish the run.
"""

import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

LOOKBACK, HORIZON, PATCH = 48, 12, 8
N_PATCH = LOOKBACK // PATCH
CHANNELS = 3
TOTAL_STEPS, WARMUP, BATCH = 400, 40, 32


def make_logs(n_towers=24, hours=24 * 40, seed=3):
    rng = np.random.default_rng(seed)
    t = np.arange(hours)
    series = []
    for _ in range(n_towers):
        day = 2 * np.pi * t / 24.0
        temp = 12 + 6 * np.sin(day - 1.2) + rng.normal(0, 0.6, hours).cumsum() * 0.02
        press = 1013 + 4 * np.sin(2 * np.pi * t / (24 * 5.3) + rng.uniform(0, 6)) + rng.normal(0, 0.3, hours)
        rate = 0.04 * (temp - 12) - 0.01 * (press - 1013)          # s/hour
        drift = np.zeros(hours)
        for h in range(1, hours):
            drift[h] = drift[h - 1] + rate[h] + rng.normal(0, 0.02)
            if h % 24 == 7:                                          # daily nudge
                drift[h] *= 0.1
        series.append(np.stack([drift, temp, press], axis=1))
    return np.stack(series).astype(np.float32)                      # (towers, hours, 3)


def windows(logs, start, stop, stride):
    xs, ys = [], []
    for s in range(start, stop - LOOKBACK - HORIZON, stride):
        xs.append(logs[:, s:s + LOOKBACK])
        ys.append(logs[:, s + LOOKBACK:s + LOOKBACK + HORIZON, 0])
    return np.concatenate(xs), np.concatenate(ys)


class PatchCaster(nn.Module):
    def __init__(self, dim=32, heads=4):
        super().__init__()
        self.embed = nn.Linear(PATCH * CHANNELS, dim)
        self.pos = mx.random.normal((N_PATCH, dim)) * 0.02
        self.encoder = nn.TransformerEncoder(num_layers=1, dims=dim, num_heads=heads,
                                             mlp_dims=2 * dim, dropout=0.0)
        self.head = nn.Linear(N_PATCH * dim, HORIZON)

    def __call__(self, x):
        # per-window instance normalisation, undone on the output
        mu = mx.mean(x, axis=1, keepdims=True)
        sd = mx.sqrt(mx.var(x, axis=1, keepdims=True) + 1e-4)
        z = (x - mu) / sd
        b = z.shape[0]
        p = z.reshape(b, N_PATCH, PATCH * CHANNELS)
        h = self.embed(p) + self.pos
        h = self.encoder(h, None)
        out = self.head(h.reshape(b, -1))
        return out * sd[:, :, 0] + mu[:, :, 0]


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=0.5, reduction="mean")


def make_schedule():
    warm = optim.linear_schedule(0.0, 2e-3, WARMUP)
    decay = optim.cosine_decay(2e-3, TOTAL_STEPS - WARMUP, end=1e-4)
    return optim.join_schedules([warm, decay], [WARMUP])


def build():
    mx.random.seed(11)
    model = PatchCaster()
    opt = optim.AdamW(learning_rate=make_schedule(), weight_decay=0.01)
    return model, opt


def evaluate(model, x, y):
    pred = model(x)
    return mx.mean(mx.abs(pred - y)).item()


def train_steps(model, opt, xtr, ytr, first, last, rng):
    step_fn = nn.value_and_grad(model, loss_fn)
    for step in range(first, last):
        idx = mx.array(rng.integers(0, xtr.shape[0], BATCH))
        loss, grads = step_fn(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if step % 50 == 0 or step == last - 1:
            lr = opt.learning_rate.item()
            print(f"step {step:4d}  lr {lr:.2e}  huber {loss.item():.4f}")


def main():
    t0 = time.time()
    logs = make_logs()
    split = 24 * 32
    xtr, ytr = windows(logs, 0, split, 3)
    xva, yva = windows(logs, split - LOOKBACK, logs.shape[1], 6)
    xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))
    print(f"train windows {xtr.shape[0]}  val windows {xva.shape[0]}")

    persist = mx.mean(mx.abs(mx.repeat(xva[:, -1:, 0], HORIZON, axis=1) - yva)).item()
    daily = mx.mean(mx.abs(xva[:, LOOKBACK - 24:LOOKBACK - 24 + HORIZON, 0] - yva)).item()
    print(f"baseline MAE  persistence {persist:.4f} s  same-hour-yesterday {daily:.4f} s")

    rng = np.random.default_rng(0)
    model, opt = build()
    print(f"params {sum(v.size for _, v in tree_flatten(model.parameters()))}")
    half = TOTAL_STEPS // 2
    train_steps(model, opt, xtr, ytr, 0, half, rng)
    mae_before = evaluate(model, xva, yva)
    print(f"val MAE at step {half}: {mae_before:.4f} s")

    ckdir = tempfile.mkdtemp()
    wpath = os.path.join(ckdir, "weights.safetensors")
    opath = os.path.join(ckdir, "optimizer.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    print(f"checkpoint written to {ckdir}")

    # fresh process state: new model, new optimizer, then load both
    model, opt = build()
    model.load_weights(wpath)
    opt.state = tree_unflatten(list(mx.load(opath).items()))
    mx.eval(model.parameters(), opt.state)
    print(f"resumed at optimizer step {opt.step.item()}  val MAE {evaluate(model, xva, yva):.4f} s")

    train_steps(model, opt, xtr, ytr, half, TOTAL_STEPS, rng)
    mae = evaluate(model, xva, yva)
    print(f"final val MAE {mae:.4f} s  (persistence {persist:.4f}, same-hour-yesterday {daily:.4f})")
    print(f"skill vs persistence {1 - mae / persist:.2%}")
    print(f"done in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
