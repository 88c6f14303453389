"""Sugarbush tap logs: hourly sap flow (litres per tap) with a predicted spread, from
overnight low, daytime high, hour, snowpack, tree diameter and tap age.

Rows live in .npz shards on disk. A generator chain streams them: shard order
reshuffled every pass -> rows pushed through a 512-row shuffle buffer -> batches,
cycling forever; training is counted in steps, not epochs.
"""
import glob
import os
import shutil
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np


def make_rows(rng, n):
    low = rng.normal(-5, 4, n)
    high = low + rng.uniform(2, 14, n)
    hour = rng.integers(0, 24, n)
    snow = rng.uniform(0, 80, n)
    dbh = rng.uniform(20, 70, n)
    age = rng.integers(0, 4, n)
    thaw = np.clip(high, 0, None) * (low < 0)  # freeze-thaw drives pressure
    diurnal = np.exp(-0.5 * ((hour - 13) / 3.0) ** 2)
    mu = 0.08 * thaw * diurnal * (dbh / 40) * (1 - 0.12 * age) + 0.002 * snow * diurnal
    sd = 0.05 + 0.25 * mu
    y = mu + sd * rng.normal(size=n)
    x = np.stack(
        [low / 5, high / 8, np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24),
         snow / 40, dbh / 40, age / 3],
        axis=1,
    ).astype(np.float32)
    return x, y.astype(np.float32)


def write_shards(folder, rng, n_shards, rows_per):
    for k in range(n_shards):
        x, y = make_rows(rng, rows_per + int(rng.integers(-40, 40)))
        np.savez(os.path.join(folder, f"taps-{k:03d}.npz"), x=x, y=y)


def shard_rows(files, rng):
    """One pass: visit shards in a fresh order, yield rows."""
    for f in rng.permutation(files):
        with np.load(f) as z:
            x, y = z["x"], z["y"]
        for i in range(len(y)):
            yield x[i], y[i]


def shuffle_buffer(rows, size, rng):
    buf = []
    for r in rows:
        if len(buf) < size:
            buf.append(r)
            continue
        j = int(rng.integers(0, size))
        yield buf[j]
        buf[j] = r
    rng.shuffle(buf)
    yield from buf


def batches(files, batch_size, seed, buffer_size=512):
    """Endless stream of (x, y, pass_no)."""
    rng = np.random.default_rng(seed)
    pass_no = 0
    while True:
        pass_no += 1
        xs, ys = [], []
        for x, y in shuffle_buffer(shard_rows(files, rng), buffer_size, rng):
            xs.append(x)
            ys.append(y)
            if len(ys) == batch_size:
                yield mx.array(np.stack(xs)), mx.array(np.array(ys)), pass_no
                xs, ys = [], []
        # the short tail of each pass is dropped


class SapNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(7, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.mu = nn.Linear(64, 1)
        self.log_sd = nn.Linear(64, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.mu(h)[:, 0], mx.clip(self.log_sd(h)[:, 0], -6.0, 2.0)


def gauss_nll(model, x, y):
    mu, log_sd = model(x)
    return (log_sd + 0.5 * ((y - mu) / mx.exp(log_sd)) ** 2).mean() + 0.5 * np.log(2 * np.pi)


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(2)
    folder = tempfile.mkdtemp("_sugarbush")
    write_shards(folder, rng, 12, 400)
    files = sorted(glob.glob(os.path.join(folder, "*.npz")))
    vx, vy = make_rows(rng, 3000)
    vx, vy = mx.array(vx), mx.array(vy)
    # climatology reference: one Gaussian for every hour of every tree
    clim = float(np.log(np.std(np.array(vy))) + 0.5 + 0.5 * np.log(2 * np.pi))
    print(f"shards={len(files)} dir={folder} val_rows={vy.shape[0]} climatology_nll={clim:+.3f}")

    model = SapNet()
    steps = 1500
    sched = optim.step_decay(0.02, 0.3, 500)
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
    lvg = nn.value_and_grad(model, gauss_nll)

    tic = time.perf_counter()
    window = []
    for step, (x, y, pass_no) in enumerate(batches(files, 128, seed=7), start=1):
        loss, g = lvg(model, x, y)
        g, gnorm = optim.clip_grad_norm(g, 5.0)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step % 150 == 0:
            mu, log_sd = model(vx)
            vnll = gauss_nll(model, vx, vy).item()
            mae = mx.abs(mu - vy).mean().item()
            cover = (mx.abs(vy - mu) < 1.96 * mx.exp(log_sd)).mean().item() * 100
            print(
                f"step={step} pass={pass_no} lr={opt.learning_rate.item():.4f} "
                f"train_nll={np.mean(window):+.3f} val_nll={vnll:+.3f} (clim {clim:+.3f}) "
                f"val_mae_l={mae:.4f} cover95={cover:.1f}% gnorm={gnorm.item():.2f} t={time.perf_counter() - tic:.1f}s"
            )
            window = []
        if step == steps:
            break
    print(f"done steps={steps} passes_started={pass_no}")

    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
