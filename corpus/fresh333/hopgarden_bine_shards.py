"""Hop garden: daily bine growth (cm/day) from string-frame sensor shards.

Each wirework row logs to its own shard file, and the shards differ a lot in
size.  A generator walks the shards in a fresh order each epoch, shuffles rows
inside a shard, and carries leftover rows over shard boundaries; the short
final batch of an epoch is kept.  The model predicts a mean and a log-variance;
stage 1 fits the mean only (MSE), stage 2 switches to the Gaussian negative
log-likelihood, which is allowed to go below zero.  The learning rate restarts
every 4 epochs (SGDR), so the loss rises briefly after each restart.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SHARD_SIZES = [310, 95, 512, 47, 260, 388, 150, 233]
N_FEAT = 8
BATCH = 64


def growth_law(f, rng):
    # f: day length h, mean temp C, soil moisture, N ppm, variety vigour, age weeks, wind, aphid index
    day, temp, moist, nit, vig, age, wind, aph = f.T
    mean = (4.0 + 1.1 * (day - 14.0) + 0.35 * (temp - 15.0) - 0.02 * (temp - 15.0) ** 2
            + 3.0 * np.tanh(moist - 0.4) + 0.015 * nit + 2.2 * vig
            - 0.06 * (age - 9.0) ** 2 * 0.5 - 0.4 * wind - 1.6 * aph)
    sd = 0.35 + 0.45 * aph + 0.12 * wind
    return (mean + sd * rng.standard_normal(len(f))).astype(np.float32), sd


def make_shard(n, rng):
    f = np.stack([
        rng.uniform(12.0, 16.5, n), rng.normal(16.0, 4.0, n), rng.uniform(0.1, 0.8, n),
        rng.uniform(40, 160, n), rng.integers(0, 3, n).astype(float), rng.uniform(2, 16, n),
        rng.gamma(2.0, 1.2, n), rng.beta(1.2, 4.0, n),
    ], axis=1).astype(np.float32)
    y, sd = growth_law(f, rng)
    return f, y, sd


def shard_batches(shards, epoch_seed):
    """Yield (x, y) batches across shards; rows left over in one shard join the next."""
    rng = np.random.default_rng(epoch_seed)
    carry_x, carry_y = np.zeros((0, N_FEAT), np.float32), np.zeros((0,), np.float32)
    for s in rng.permutation(len(shards)):
        fx, fy = shards[s]
        p = rng.permutation(len(fx))
        carry_x = np.concatenate([carry_x, fx[p]])
        carry_y = np.concatenate([carry_y, fy[p]])
        while len(carry_x) >= BATCH:
            yield carry_x[:BATCH], carry_y[:BATCH]
            carry_x, carry_y = carry_x[BATCH:], carry_y[BATCH:]
    if len(carry_x):
        yield carry_x, carry_y


class BineNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(N_FEAT, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.mean_head = nn.Linear(64, 1)
        self.logvar_head = nn.Linear(64, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.mean_head(h).squeeze(-1), self.logvar_head(h).squeeze(-1)


def mse_loss(model, x, y):
    m, _ = model(x)
    return mx.mean((m - y) ** 2)


def nll_loss(model, x, y):
    m, lv = model(x)
    lv = mx.clip(lv, -6.0, 4.0)
    return mx.mean(0.5 * (lv + (y - m) ** 2 * mx.exp(-lv) + math.log(2 * math.pi)))


def sgdr_lr(epoch, frac, base=3e-3, floor=1e-4, period=4):
    t = ((epoch % period) + frac) / period
    return floor + 0.5 * (base - floor) * (1 + math.cos(math.pi * t))


def main():
    t0 = time.time()
    mx.random.seed(5)
    rng = np.random.default_rng(21)
    raw = [make_shard(n, rng) for n in SHARD_SIZES]
    vx, vy, vsd = make_shard(1200, np.random.default_rng(99))

    allx = np.concatenate([r[0] for r in raw])
    mu, sd = allx.mean(0), allx.std(0) + 1e-6
    ymu, ysd = float(np.concatenate([r[1] for r in raw]).mean()), float(np.concatenate([r[1] for r in raw]).std())
    shards = [((f - mu) / sd, (y - ymu) / ysd) for f, y, _ in raw]
    vxn, vyn = mx.array((vx - mu) / sd), mx.array((vy - ymu) / ysd)

    noise_floor = float(np.mean((vsd / ysd) ** 2))
    mean_baseline = float(np.mean(((vy - ymu) / ysd) ** 2))
    rows = sum(SHARD_SIZES)
    print(f"{len(shards)} shards, {rows} rows, batch {BATCH}: expect {math.ceil(rows / BATCH)} batches/epoch "
          f"(last one {rows % BATCH} rows)")
    print(f"val baselines: predict-mean MSE {mean_baseline:.3f}, noise floor MSE {noise_floor:.3f}")

    model = BineNet()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=3e-3)
    epochs, stage2_from = 12, 4
    model.logvar_head.freeze()
    step_fn = nn.value_and_grad(model, mse_loss)
    stage = 1
    for epoch in range(epochs):
        if epoch == stage2_from:
            model.logvar_head.unfreeze()
            opt = optim.Adam(learning_rate=3e-3)   # fresh moments that cover the new head
            step_fn = nn.value_and_grad(model, nll_loss)
            stage = 2
            print(f"epoch {epoch}: stage 2, Gaussian NLL with the log-variance head trainable")
        n_batches = math.ceil(rows / BATCH)
        seen, tot, nb = 0, 0.0, 0
        for bx, by in shard_batches(shards, epoch_seed=1000 + epoch):
            opt.learning_rate = sgdr_lr(epoch, nb / n_batches)
            loss, grads = step_fn(model, mx.array(bx), mx.array(by))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * len(by)
            seen += len(by)
            nb += 1
        m, lv = model(vxn)
        vmse = mx.mean((m - vyn) ** 2).item()
        vnll = mx.mean(0.5 * (lv + (vyn - m) ** 2 * mx.exp(-lv) + math.log(2 * math.pi))).item()
        print(f"epoch {epoch:2d} stage {stage} batches {nb} rows {seen} lr_end {opt.learning_rate.item():.2e} "
              f"train {'mse' if stage == 1 else 'nll'} {tot / seen:+.4f} | val mse {vmse:.4f} "
              f"(floor {noise_floor:.3f}, mean-baseline {mean_baseline:.3f}) val nll {vnll:+.4f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
