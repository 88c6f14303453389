"""Spring frost damage in an apple orchard: predict the fraction of flower buds
killed in a frost night from weather-station readings and the bloom stage.

Mixed precision by hand: the forward/backward pass runs on a float16 copy of
the network, the optimizer updates float32 master weights, and a dynamic loss
scale guards against float16 overflow (steps with non-finite gradients are
skipped and the scale is halved; after 250 clean steps it is doubled).
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s frostnet | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("frostnet")

# bloom stages: silver tip, green tip, tight cluster, first pink, full bloom, petal fall
STAGE_T10 = np.array([-9.4, -7.8, -5.0, -3.9, -2.9, -2.2], dtype=np.float32)  # temp that kills ~10%
STAGE_T90 = np.array([-16.7, -12.2, -9.4, -6.1, -4.7, -4.1], dtype=np.float32)  # temp that kills ~90%


def make_nights(n, rng):
    stage = rng.integers(0, 6, size=n)
    tmin = rng.uniform(-14.0, 1.0, size=n).astype(np.float32)
    hours_below = np.clip(rng.gamma(2.0, 1.6, size=n) * (tmin < 0), 0, 12).astype(np.float32)
    wind = rng.uniform(0.0, 6.0, size=n).astype(np.float32)       # m/s, mixes warm air down
    dew = (tmin - rng.uniform(0.5, 8.0, size=n)).astype(np.float32)  # dry air = radiative frost
    t10, t90 = STAGE_T10[stage], STAGE_T90[stage]
    t50 = 0.5 * (t10 + t90)
    width = (t10 - t90) / 4.4
    eff_t = tmin - 0.25 * np.log1p(hours_below) + 0.08 * wind - 0.03 * (tmin - dew)
    p = 1.0 / (1.0 + np.exp((eff_t - t50) / width))
    n_buds = 40
    killed = rng.binomial(n_buds, p) / n_buds                      # observed fraction on a 40-bud sample
    x = np.stack([tmin / 5.0, hours_below / 4.0, wind / 3.0, (tmin - dew) / 4.0], axis=1)
    onehot = np.eye(6, dtype=np.float32)[stage]
    return np.concatenate([x, onehot], axis=1).astype(np.float32), killed.astype(np.float32), p.astype(np.float32)


class FrostNet(nn.Module):
    def __init__(self, d_in=10, hidden=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = h + nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1)


def soft_bce(logits, target):
    # fractions as soft targets; computed in float32 for the reduction
    logits = logits.astype(mx.float32)
    return nn.losses.binary_cross_entropy(logits, target, with_logits=True, reduction="mean")


class LossScaler:
    def __init__(self, init=2.0 ** 15, growth_interval=250):
        self.scale = init
        self.growth_interval = growth_interval
        self.clean = 0
        self.skipped = 0

    def step_ok(self, finite):
        if finite:
            self.clean += 1
            if self.clean % self.growth_interval == 0:
                self.scale = min(self.scale * 2.0, 2.0 ** 24)
            return True
        self.scale /= 2.0
        self.clean = 0
        self.skipped += 1
        return False


def main():
    rng = np.random.default_rng(2207)
    xtr, ytr, _ = make_nights(16000, rng)
    xva, yva, pva = make_nights(3000, rng)
    floor = float(np.mean(-(pva * np.log(pva + 1e-7) + (1 - pva) * np.log(1 - pva + 1e-7))))  # E[H(p)]
    base = float(ytr.mean())
    base_bce = float(np.mean(-(yva * np.log(base) + (1 - yva) * np.log(1 - base))))
    log.info("nights train=%d valid=%d  mean kill=%.3f  predict-mean bce=%.4f  ~entropy floor=%.4f",
             len(xtr), len(xva), base, base_bce, floor)

    mx.random.seed(7)
    master = FrostNet()                    # float32 master weights
    half = FrostNet()                      # float16 working copy
    half.set_dtype(mx.float16)
    opt = optim.Adam(learning_rate=optim.cosine_decay(2e-3, 3000, 1e-4))
    scaler = LossScaler()

    def scaled_loss(model, x, y, scale):
        return soft_bce(model(x), y) * scale

    grad_fn = nn.value_and_grad(half, scaled_loss)
    xv, yv = mx.array(xva), mx.array(yva)
    xt_all, yt_all = mx.array(xtr), mx.array(ytr)

    def valid_bce():
        half.update(tree_map(lambda p: p.astype(mx.float16), master.parameters()))
        l = soft_bce(half(xv.astype(mx.float16)), yv)
        mae = mx.mean(mx.abs(mx.sigmoid(half(xv.astype(mx.float16)).astype(mx.float32)) - yv))
        return l.item(), mae.item()

    vb, vm = valid_bce()
    log.info("untrained  valid_bce=%.4f  valid_mae=%.1f%% of buds", vb, 100 * vm)

    steps, bs = 3000, 128
    perm, cur = rng.permutation(len(xtr)), 0
    window, t0 = [], time.time()
    for step in range(1, steps + 1):
        if cur + bs > len(perm):
            perm, cur = rng.permutation(len(xtr)), 0
        idx = mx.array(perm[cur:cur + bs])
        cur += bs
        xb = xt_all[idx].astype(mx.float16)
        yb = yt_all[idx]

        half.update(tree_map(lambda p: p.astype(mx.float16), master.parameters()))
        scale = scaler.scale
        loss_s, g16 = grad_fn(half, xb, yb, mx.array(scale, dtype=mx.float32))
        grads = tree_map(lambda g: g.astype(mx.float32) / scale, g16)
        leaves = [g for _, g in tree_flatten(grads)]
        finite = mx.all(mx.stack([mx.all(mx.isfinite(g)) for g in leaves]))
        mx.eval(loss_s, grads, finite)

        if step == 1:
            zero = [k for k, g in tree_flatten(grads) if float(mx.abs(g).max()) == 0.0]
            log.info("step-1 gradient check: %d leaves, all-zero leaves: %s", len(leaves), zero or "none")

        if scaler.step_ok(bool(finite)):
            opt.update(master, grads)
            mx.eval(master.parameters(), opt.state)
            window.append(loss_s.item() / scale)

        if step % 300 == 0:
            vb, vm = valid_bce()
            tr = sum(window) / max(len(window), 1)
            window = []
            log.info("step %4d  lr=%.2e  scale=2^%d  skipped=%d  train_bce=%.4f  valid_bce=%.4f  "
                     "valid_mae=%.1f%% of buds  %.1fs", step, opt.learning_rate.item(),
                     int(math.log2(scaler.scale)), scaler.skipped, tr, vb, 100 * vm, time.time() - t0)

    log.info("done: %d optimizer steps, %d overflow steps skipped, final loss scale 2^%d",
             steps - scaler.skipped, scaler.skipped, int(math.log2(scaler.scale)))


if __name__ == "__main__":
    main()
