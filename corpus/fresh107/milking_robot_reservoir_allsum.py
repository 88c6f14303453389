"""Automatic milking system: learn the milk yield of each robot visit online.

Visits arrive as a stream (32 per tick).  The model predicts a Gaussian over
the visit's yield (standardised kg), so the training loss is a Gaussian NLL
that goes below zero once the predicted spread is narrower than one sd.  The
herd changes twice (a new ration, then a heat wave), so the loss jumps and
recovers.  Every tick trains on the fresh visits plus a sample from a
reservoir-sampled replay buffer that fills up to 3000 visits and then stays
that size.  The gradient goes through mx.distributed.all_sum so the same
script runs unchanged on several robots' barn PCs; here it is one process.

The 'prequential' columns score each fresh batch BEFORE the model trains on
it, so they are honest held-out numbers.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

FEATURES = ["hours_since_last", "days_in_milk", "parity", "body_kg", "concentrate_kg", "thi"]
REGIMES = [(0, "spring grass"), (1800, "new ration"), (3600, "heat wave")]
BATCH_NEW, BATCH_REPLAY, CAP = 32, 96, 3000


class Barn:
    """Synthetic herd: yield per visit in kg, regime-dependent."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def visits(self, n, regime):
        r = self.rng
        hrs = r.uniform(5, 14, n)
        dim = r.uniform(5, 320, n)
        parity = r.integers(1, 6, n).astype(np.float64)
        body = r.normal(650, 60, n)
        conc = r.uniform(2, 9, n)
        thi = r.normal(62, 6, n) + (12 if regime == 2 else 0)
        lact = 38 * (dim / 50) ** 0.2 * np.exp(-0.003 * dim) * (1 + 0.06 * np.minimum(parity, 3))
        per_day = lact * (1 + 0.02 * (conc - 5)) * (1 + (0.12 if regime >= 1 else 0))
        per_day *= 1 - 0.015 * np.maximum(thi - 68, 0)
        y = per_day * hrs / 24 + 0.002 * (body - 650)
        y = y + r.normal(0, 0.35, n)
        x = np.stack([hrs, dim, parity, body, conc, thi], 1)
        return x.astype(np.float32), y.astype(np.float32)


class YieldNet(nn.Module):
    def __init__(self, x_mu, x_sd, y_mu, y_sd):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.head = nn.Linear(64, 2)
        # fixed scaling constants, private so they are not trained
        self._x_mu, self._x_sd = mx.array(x_mu), mx.array(x_sd)
        self._y_mu, self._y_sd = y_mu, y_sd

    def __call__(self, x):
        out = self.head(self.body((x - self._x_mu) / self._x_sd))
        mean, log_sd = out[:, 0], mx.clip(out[:, 1], -5.0, 3.0)
        return mean, log_sd

    def to_kg(self, z):
        return z * self._y_sd + self._y_mu


def gauss_nll(model, x, y_std):
    mean, log_sd = model(x)
    z = (y_std - mean) * mx.exp(-log_sd)
    return mx.mean(0.5 * z * z + log_sd + 0.5 * math.log(2 * math.pi))


class Reservoir:
    """Algorithm R: every visit seen so far is kept with equal probability."""

    def __init__(self, cap, dim, rng):
        self.x = np.zeros((cap, dim), np.float32)
        self.y = np.zeros((cap,), np.float32)
        self.cap, self.n, self.seen, self.rng = cap, 0, 0, rng

    def add(self, xs, ys):
        for xi, yi in zip(xs, ys):
            self.seen += 1
            if self.n < self.cap:
                slot = self.n
                self.n += 1
            else:
                slot = self.rng.integers(0, self.seen)
                if slot >= self.cap:
                    continue
            self.x[slot], self.y[slot] = xi, yi

    def sample(self, k):
        idx = self.rng.integers(0, self.n, k)
        return self.x[idx], self.y[idx]


def main():
    mx.random.seed(5)
    group = mx.distributed.init()
    world = group.size()
    barn = Barn(5)
    rng = np.random.default_rng(6)

    # scaling from a short calibration log of the first regime
    cx, cy = barn.visits(2000, 0)
    model = YieldNet(cx.mean(0), cx.std(0), float(cy.mean()), float(cy.std()))
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=1e-3, bias_correction=True)
    value_grad = nn.value_and_grad(model, gauss_nll)

    def reduce_grads(g):
        return tree_map(lambda a: mx.distributed.all_sum(a, group=group) / world, g)

    buf = Reservoir(CAP, 6, rng)
    print(f"rank {group.rank()} of {world}; features {', '.join(FEATURES)}; "
          f"yield sd {model._y_sd:.2f} kg; buffer cap {CAP}")

    ticks = 600 * 3
    per_regime = ticks // 3
    t0 = time.perf_counter()
    pre_nll, pre_mae, seen_ticks = [], [], 0
    for tick in range(ticks):
        regime = tick // per_regime
        if tick % per_regime == 0:
            print(f"-- regime {regime}: {REGIMES[regime][1]} (visit {tick * BATCH_NEW})")
        xn, yn = barn.visits(BATCH_NEW, regime)
        yn_std = (yn - model._y_mu) / model._y_sd

        # test-then-train: score the fresh visits first
        mean, log_sd = model(mx.array(xn))
        pre_nll.append(gauss_nll(model, mx.array(xn), mx.array(yn_std)).item())
        pre_mae.append(float(np.mean(np.abs(np.array(model.to_kg(mean)) - yn))))

        if buf.n >= BATCH_REPLAY:
            xr, yr = buf.sample(BATCH_REPLAY)
            xb = np.concatenate([xn, xr])
            yb = np.concatenate([yn_std, (yr - model._y_mu) / model._y_sd])
        else:
            xb, yb = xn, yn_std
        loss, grads = value_grad(model, mx.array(xb), mx.array(yb))
        grads = reduce_grads(grads)
        if tick == 0:
            flat = tree_flatten(grads)
            zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
            print(f"first tick: {len(flat)} gradient leaves, all-zero: {len(zero)}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        buf.add(xn, yn)
        seen_ticks += 1

        if (tick + 1) % 120 == 0 or tick + 1 == 48:
            sd_kg = float(np.exp(np.array(log_sd)).mean()) * model._y_sd
            print(
                f"visits {buf.seen:6d} | buffer {buf.n:4d}/{CAP} | "
                f"preq nll {np.mean(pre_nll):+.3f} | preq mae {np.mean(pre_mae):.3f} kg | "
                f"pred sd {sd_kg:.2f} kg | train nll {loss.item():+.3f} | {time.perf_counter() - t0:4.1f}s"
            )
            pre_nll, pre_mae = [], []

    # final check on every regime, the current herd last
    for r, (_, name) in enumerate(REGIMES):
        xt, yt = Barn(100 + r).visits(3000, r)
        m, _ = model(mx.array(xt))
        nll = gauss_nll(model, mx.array(xt), mx.array((yt - model._y_mu) / model._y_sd)).item()
        mae = float(np.mean(np.abs(np.array(model.to_kg(m)) - yt)))
        print(f"held-out {name:12s}: nll {nll:+.3f}  mae {mae:.3f} kg  (noise sd 0.35 kg)")


if __name__ == "__main__":
    main()
