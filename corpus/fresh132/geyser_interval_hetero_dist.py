"""Geyser eruption-interval forecaster.

Predicts the wait (minutes) until the next eruption from the previous
eruption's duration, the previous wait, pool temperature and barometric
pressure, with a heteroscedastic Gaussian head (mean + log-variance).
Data-parallel style step through mx.distributed (works as a 1-process group),
warmup from lr = 0, compiled step.
"""
import math
import sys
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map


def make_geyser(n, key):
    k1, k2, k3, k4, k5 = mx.random.split(key, 5)
    long_mode = mx.random.bernoulli(0.65, (n,), key=k1)
    dur = mx.where(long_mode, 4.3 + 0.4 * mx.random.normal((n,), key=k2),
                   2.0 + 0.3 * mx.random.normal((n,), key=k2))            # minutes
    prev_wait = 55 + 12 * mx.random.normal((n,), key=k3) + 10 * long_mode
    temp = 93.0 + 1.5 * mx.random.normal((n,), key=k4)                     # deg C
    press = 1013 + 8 * mx.random.normal((n,), key=k5)                       # hPa
    mean = 33 + 10.5 * dur + 0.15 * (prev_wait - 60) - 1.2 * (temp - 93) + 0.1 * (press - 1013)
    sd = 2.0 + 2.5 * (dur < 3.0) + 0.04 * mx.abs(prev_wait - 60)            # short eruptions are noisier
    wait = mean + sd * mx.random.normal((n,), key=mx.random.split(k1)[0])
    x = mx.stack([dur, prev_wait, temp, press], axis=1)
    return x, wait


class IntervalNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU())
        self.mu = nn.Linear(48, 1)
        self.logvar = nn.Linear(48, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.mu(h).squeeze(-1), self.logvar(h).squeeze(-1)


def gauss_nll(model, x, y):
    mu, logvar = model(x)
    return 0.5 * (logvar + (y - mu) ** 2 * mx.exp(-logvar) + math.log(2 * math.pi)).mean()


def main():
    world = mx.distributed.init()
    rank, size = world.rank(), world.size()
    mx.random.seed(2024 + rank)
    key = mx.random.key(11)
    xtr, ytr = make_geyser(8000, key)
    xva, yva = make_geyser(2000, mx.random.key(12))
    xm, xs = xtr.mean(axis=0), xtr.std(axis=0)
    ym, ys = ytr.mean(), ytr.std()
    norm = lambda x: (x - xm) / xs
    xtr, xva = norm(xtr), norm(xva)
    ttr, tva = (ytr - ym) / ys, (yva - ym) / ys

    model = IntervalNet()
    mx.eval(model.parameters())
    total_steps, warm = 1200, 200
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total_steps - warm, 1e-4)],
        [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = nn.value_and_grad(model, gauss_nll)(model, x, y)
        grads = tree_map(lambda g: mx.distributed.all_sum(g, group=world) / size, grads)
        loss = mx.distributed.all_sum(loss, group=world) / size
        opt.update(model, grads)
        return loss

    # baseline: a constant Gaussian with the training mean/sd ("climatology")
    base_nll = 0.5 * (math.log(2 * math.pi) + 1.0)     # in standardized units: N(0, 1)
    bs = 128
    n = xtr.shape[0]
    t0 = time.time()
    run = 0.0
    for it in range(total_steps):
        idx = mx.random.randint(0, n, (bs,))
        loss = step(xtr[idx], ttr[idx])
        mx.eval(state, loss)
        run = loss.item() if it == 0 else 0.95 * run + 0.05 * loss.item()
        if it % 100 == 0 or it == total_steps - 1:
            lr = opt.learning_rate.item()
            done = (it + 1) / total_steps
            bar = "#" * int(20 * done) + "." * (20 - int(20 * done))
            el = time.time() - t0
            print(f"train [{bar}] {it + 1:4d}/{total_steps} {done * 100:5.1f}% "
                  f"[{el:4.1f}s, nll={run:.3f}, lr={lr:.2e}]", file=sys.stderr)
    mu, logvar = model(xva)
    val_nll = gauss_nll(model, xva, tva).item()
    mae_min = (mx.abs(mu - tva) * ys).mean().item()
    base_mae = (mx.abs(yva - ym)).mean().item()
    sd_min = (mx.exp(0.5 * logvar) * ys)
    inside = (mx.abs(mu - tva) < 1.96 * mx.exp(0.5 * logvar)).astype(mx.float32).mean().item()
    print(f"world size {size}, rank {rank}, {total_steps} steps, {time.time() - t0:.1f}s")
    print(f"{'metric':<22}{'model':>10}{'climatology':>14}")
    print(f"{'val NLL (std units)':<22}{val_nll:>10.3f}{base_nll:>14.3f}")
    print(f"{'val MAE (min)':<22}{mae_min:>10.2f}{base_mae:>14.2f}")
    print(f"{'95% PI coverage':<22}{inside * 100:>9.1f}%{95.0:>13.1f}%")
    print(f"{'pred sd range (min)':<22}{sd_min.min().item():>5.2f}-{sd_min.max().item():<5.2f}")


if __name__ == "__main__":
    main()
