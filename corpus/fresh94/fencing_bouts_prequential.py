"""Fencing club ratings, learned one competition day at a time.

Each fencer gets a scalar strength (an nn.Embedding with one column); a small
context net adds a bout-level bias (weapon, who fences at home, rest days).
P(left fencer wins) = sigmoid(s_left - s_right + ctx(bout)).

Season loop: before training on a new competition day, the model PREDICTS that
day's bouts (prequential score, reported in bits per bout). Then the day is
appended to a replay window of recent bouts, which grows until it holds
MAX_WINDOW bouts and from then on drops the oldest, and the model takes a few
passes over the window.
"""
import math
import time
from collections import deque

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_FENCERS = 60
DAYS = 30
BOUTS_PER_DAY = 300
MAX_WINDOW = 3000
PASSES = 4
BATCH = 96
STRENGTH_L2 = 1e-3
WEAPONS = ("foil", "epee", "sabre")


class Season:
    """Synthetic ground truth: hidden strengths, weapon-dependent skill gap."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.true_strength = self.rng.normal(0.0, 1.0, N_FENCERS)
        self.gap_scale = np.array([1.0, 0.7, 1.3])   # epee is the lottery

    def day(self):
        r = self.rng
        a = r.integers(0, N_FENCERS, BOUTS_PER_DAY)
        b = (a + r.integers(1, N_FENCERS, BOUTS_PER_DAY)) % N_FENCERS
        weapon = r.integers(0, 3, BOUTS_PER_DAY)
        home = r.choice([-1.0, 0.0, 1.0], BOUTS_PER_DAY, p=[0.25, 0.5, 0.25])
        rest = np.clip(r.normal(0.0, 1.0, BOUTS_PER_DAY), -2, 2)
        logit = (self.gap_scale[weapon] * (self.true_strength[a] - self.true_strength[b])
                 + 0.4 * home + 0.15 * rest)
        win = (r.uniform(size=BOUTS_PER_DAY) < 1 / (1 + np.exp(-logit))).astype(np.float32)
        ctx = np.concatenate([np.eye(3, dtype=np.float32)[weapon],
                              home[:, None], rest[:, None]], axis=1).astype(np.float32)
        return [(int(a[i]), int(b[i]), ctx[i], float(win[i])) for i in range(BOUTS_PER_DAY)]


class BoutModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.strength = nn.Embedding(N_FENCERS, 1)
        self.strength.weight = mx.zeros((N_FENCERS, 1)) + 0.01 * mx.random.normal((N_FENCERS, 1))
        self.ctx = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 1))

    def __call__(self, left, right, ctx):
        gap = self.strength(left) - self.strength(right)
        return (gap + self.ctx(ctx)).squeeze(-1)


def stack(bouts):
    left = mx.array(np.array([t[0] for t in bouts], dtype=np.int32))
    right = mx.array(np.array([t[1] for t in bouts], dtype=np.int32))
    ctx = mx.array(np.stack([t[2] for t in bouts]))
    won = mx.array(np.array([t[3] for t in bouts], dtype=np.float32))
    return left, right, ctx, won


def loss_fn(model, left, right, ctx, won):
    logits = model(left, right, ctx)
    nll = nn.losses.binary_cross_entropy(logits, won, with_logits=True, reduction="mean")
    return nll + STRENGTH_L2 * mx.mean(model.strength.weight ** 2)


def spearman(x, y):
    rx = np.argsort(np.argsort(x))
    ry = np.argsort(np.argsort(y))
    return float(np.corrcoef(rx, ry)[0, 1])


def main():
    t0 = time.time()
    mx.random.seed(11)
    season = Season(seed=5)
    model = BoutModel()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.5, momentum=0.9, nesterov=True)
    step_fn = nn.value_and_grad(model, loss_fn)
    window = deque(maxlen=MAX_WINDOW)
    order_rng = np.random.default_rng(0)
    checked = False

    print(f"club season: {N_FENCERS} fencers, {DAYS} competition days x {BOUTS_PER_DAY} bouts, "
          f"replay window capped at {MAX_WINDOW} bouts")
    print("day  window  pred.bits/bout  upsets  calib(pred-won)  rank-corr  train.bits/bout")
    for d in range(1, DAYS + 1):
        today = season.day()
        left, right, ctx, won = stack(today)
        logits = model(left, right, ctx)
        bits = nn.losses.binary_cross_entropy(logits, won, with_logits=True,
                                              reduction="mean").item() / math.log(2)
        p = mx.sigmoid(logits)
        # upsets: share of bouts won by the side the model thought was weaker
        upset = mx.mean((p > 0.5) != (won > 0.5)).item() * 100
        calib = (mx.mean(p) - mx.mean(won)).item()

        window.extend(today)
        bouts = list(window)
        seen_bits, seen_n = 0.0, 0
        for _ in range(PASSES):
            perm = order_rng.permutation(len(bouts))
            for s in range(0, len(perm) - BATCH + 1, BATCH):
                batch = stack([bouts[i] for i in perm[s:s + BATCH]])
                loss, grads = step_fn(model, *batch)
                if not checked:
                    for name, g in tree_flatten(grads):
                        if float(mx.max(mx.abs(g)).item()) == 0.0:
                            raise SystemExit(f"leaf {name} got a zero gradient")
                    print("   (first step: every parameter leaf has a non-zero gradient)")
                    checked = True
                opt.update(model, grads)
                mx.eval(model.parameters(), opt.state, loss)
                seen_bits += loss.item() * BATCH
                seen_n += BATCH
        est = np.array(model.strength.weight).ravel()
        rc = spearman(est, season.true_strength)
        print(f"{d:3d}  {len(window):6d}  {bits:14.3f}  {upset:5.1f}%  {calib:+15.3f}  "
              f"{rc:9.3f}  {seen_bits / seen_n / math.log(2):15.3f}")

    est = np.array(model.strength.weight).ravel()
    top = np.argsort(-est)[:5]
    print("strongest by the model:", ", ".join(f"#{i}" for i in top),
          "| truly strongest:", ", ".join(f"#{i}" for i in np.argsort(-season.true_strength)[:5]))
    print(f"finished in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
