"""Sea-salt pan: kilograms of salt raked per pan per day.

Counts (kg, integer) follow a made-up Poisson law of sun hours, wind, air
humidity, brine density, days since the pan was flooded and rain the day
before.  The model is a fixed random-Fourier-feature map (frozen on purpose:
it is a kernel approximation, not something to learn) followed by a small
trainable head that outputs log(rate).

Training is a hand-written Nesterov-momentum SGD over tree_map.  Gradients
go through mx.distributed.all_sum so the same script runs data-parallel
under mpirun; started plainly it is a group of one.  The learning rate warms
up linearly from exactly 0.

The Poisson NLL drops the constant log(y!) term, so it is negative here.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

FEATURES = ["sun_h", "wind_ms", "humidity", "brine_be", "days_flooded", "rain_prev_mm"]


class Config:
    n_train = 24000
    n_valid = 4000
    n_fourier = 256
    bandwidth = 1.3
    hidden = 48
    batch = 256
    epochs = 12
    peak_lr = 0.002
    warmup = 250
    momentum = 0.9
    seed = 11


def simulate(n, rng):
    sun = rng.uniform(0, 13, n)
    wind = rng.gamma(2.0, 2.0, n)
    hum = rng.uniform(0.35, 0.98, n)
    brine = rng.uniform(18, 28, n)
    days = rng.integers(0, 21, n).astype(np.float64)
    rain = rng.exponential(1.0, n) * (rng.random(n) < 0.25) * 6
    log_rate = (1.2 + 0.16 * sun + 0.9 * np.tanh(wind / 6) - 2.4 * (hum - 0.6) ** 2 * 3
                + 0.08 * (brine - 23) + 0.9 * (1 - np.exp(-days / 5)) - 0.25 * np.sqrt(rain)
                + 0.05 * sun * (1 - hum))
    y = rng.poisson(np.exp(log_rate))
    x = np.stack([sun, wind, hum, brine, days, rain], axis=1)
    return x.astype(np.float32), y.astype(np.float32)


class RandomFourier(nn.Module):
    def __init__(self, d_in, n_feat, bandwidth):
        super().__init__()
        self.proj = nn.Linear(d_in, n_feat)
        self.proj.weight = mx.random.normal((n_feat, d_in)) / bandwidth
        self.proj.bias = mx.random.uniform(0, 2 * math.pi, (n_feat,))
        self.scale = math.sqrt(2.0 / n_feat)

    def __call__(self, x):
        return self.scale * mx.cos(self.proj(x))


class SaltModel(nn.Module):
    def __init__(self, cfg, d_in, log_mean):
        super().__init__()
        self.features = RandomFourier(d_in, cfg.n_fourier, cfg.bandwidth)
        self.head = nn.Sequential(nn.Linear(cfg.n_fourier + d_in, cfg.hidden), nn.Tanh(),
                                  nn.Linear(cfg.hidden, 1))
        self.head.layers[-1].bias = mx.array([log_mean])

    def __call__(self, x):
        return self.head(mx.concatenate([self.features(x), x], axis=-1)).squeeze(-1)


def poisson_nll(log_rate, y):
    return mx.mean(mx.exp(log_rate) - y * log_rate)


def deviance(rate, y):
    rate = np.maximum(rate, 1e-9)
    term = np.where(y > 0, y * np.log(np.maximum(y, 1e-9) / rate), 0.0)
    return 2.0 * np.sum(term - (y - rate))


def lr_at(step, cfg):
    if step < cfg.warmup:
        return cfg.peak_lr * step / cfg.warmup
    return cfg.peak_lr


class NesterovSGD:
    def __init__(self, params, momentum):
        self.momentum = momentum
        self.velocity = tree_map(mx.zeros_like, params)

    def apply(self, params, grads, lr):
        mu = self.momentum
        self.velocity = tree_map(lambda v, g: mu * v + g, self.velocity, grads)
        return tree_map(lambda p, v, g: p - lr * (g + mu * v), params, self.velocity, grads)


def main():
    cfg = Config()
    rng = np.random.default_rng(cfg.seed)
    mx.random.seed(cfg.seed)
    group = mx.distributed.init()

    xtr, ytr = simulate(cfg.n_train, rng)
    xva, yva = simulate(cfg.n_valid, rng)
    mu, sd = xtr.mean(0), xtr.std(0)
    xtr = (xtr - mu) / sd
    xva = (xva - mu) / sd

    model = SaltModel(cfg, xtr.shape[1], float(np.log(ytr.mean())))
    model.features.freeze()
    mx.eval(model.parameters())
    feat_before = np.array(model.features.proj.weight)

    loss_and_grad = nn.value_and_grad(model, lambda m, x, y: poisson_nll(m(x), y))
    opt = NesterovSGD(model.trainable_parameters(), cfg.momentum)

    _, g = loss_and_grad(model, mx.array(xtr[:cfg.batch]), mx.array(ytr[:cfg.batch]))
    names = [k for k, _ in tree_flatten(g)]
    dead = [k for k, v in tree_flatten(g) if float(mx.abs(v).max()) == 0.0]
    print(f"rank {group.rank()}/{group.size()}  trainable leaves: {', '.join(names)}")
    print(f"frozen: features.proj ({cfg.n_fourier}x{xtr.shape[1]})  zero-grad leaves: {dead or 'none'}")

    null_dev = deviance(np.full_like(yva, ytr.mean()), yva)
    print(f"train {len(ytr)} pans-days, valid {len(yva)}, mean harvest {ytr.mean():.1f} kg, "
          f"null deviance {null_dev:.0f}")
    print()
    header = f"{'epoch':>5} {'step':>6} {'lr':>8} {'train_nll':>10} {'valid_nll':>10} {'MAE kg':>8} {'dev. expl.':>10} {'secs':>6}"
    print(header)
    print("-" * len(header))

    step = 0
    t0 = time.time()
    n_batches = len(ytr) // cfg.batch
    for epoch in range(1, cfg.epochs + 1):
        perm = rng.permutation(len(ytr))
        total, count = 0.0, 0
        for b in range(n_batches):
            idx = perm[b * cfg.batch:(b + 1) * cfg.batch]
            loss, grads = loss_and_grad(model, mx.array(xtr[idx]), mx.array(ytr[idx]))
            grads = tree_map(lambda t: mx.distributed.all_sum(t, group=group) / group.size(), grads)
            lr = lr_at(step, cfg)
            new_params = opt.apply(model.trainable_parameters(), grads, lr)
            model.update(new_params)
            mx.eval(model.parameters(), opt.velocity, loss)
            total += loss.item()
            count += 1
            step += 1
        log_rate = model(mx.array(xva))
        vnll = poisson_nll(log_rate, mx.array(yva)).item()
        rate = np.exp(np.array(log_rate))
        mae = float(np.mean(np.abs(rate - yva)))
        expl = 100.0 * (1.0 - deviance(rate, yva) / null_dev)
        print(f"{epoch:>5} {step:>6} {lr_at(step - 1, cfg):>8.4f} {total / count:>10.4f} "
              f"{vnll:>10.4f} {mae:>8.2f} {expl:>9.1f}% {time.time() - t0:>6.1f}")

    drift = float(np.abs(np.array(model.features.proj.weight) - feat_before).max())
    print()
    print(f"random-feature map drift after training: {drift:.1e} (frozen)")


if __name__ == "__main__":
    main()
