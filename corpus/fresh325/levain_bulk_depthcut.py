"""Sourdough bakery: bulk-fermentation time (minutes) from the dough sheet.

Train a deep residual MLP, score each residual block by how much the held-out
error grows when that block is skipped, cut the two least useful blocks out
of the network, then let the remaining model settle again with only the
blocks that sit right after a cut (plus the output head) allowed to move.
Metrics go out as statsd-style lines: name:value|type.
"""

import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

FEATURES = ["starter_pct", "hydration", "dough_temp", "room_temp",
            "protein", "salt_pct", "starter_age_h"]


def make_sheets(n, rng):
    starter = rng.uniform(5, 30, n)
    hydration = rng.uniform(62, 85, n)
    dough_t = rng.uniform(21, 28, n)
    room_t = rng.uniform(18, 30, n)
    protein = rng.uniform(10, 14.5, n)
    salt = rng.uniform(1.6, 2.4, n)
    age = rng.uniform(2, 14, n)
    activity = np.exp(-((age - 6.0) / 4.5) ** 2)
    rate = (0.6 + 0.05 * starter) * (1.0 + 0.6 * activity)
    rate *= np.exp(0.085 * (0.6 * dough_t + 0.4 * room_t - 24.0))
    rate *= 1.0 + 0.012 * (hydration - 70.0)
    rate *= np.exp(-0.35 * (salt - 2.0)) * (1.0 - 0.03 * (protein - 12.0))
    minutes = 210.0 / rate + 8.0 * np.sin(hydration / 4.0)
    minutes = minutes + rng.normal(0.0, 6.0, n)
    x = np.stack([starter, hydration, dough_t, room_t, protein, salt, age], 1)
    return x.astype(np.float32), minutes.astype(np.float32)


class Block(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.norm = nn.LayerNorm(dims)
        self.fc1 = nn.Linear(dims, 2 * dims)
        self.fc2 = nn.Linear(2 * dims, dims)

    def __call__(self, x):
        return x + self.fc2(nn.gelu(self.fc1(self.norm(x))))


class ProofNet(nn.Module):
    def __init__(self, n_in, dims, depth):
        super().__init__()
        self.inp = nn.Linear(n_in, dims)
        self.blocks = [Block(dims) for _ in range(depth)]
        self.norm = nn.LayerNorm(dims)
        self.out = nn.Linear(dims, 1)

    def __call__(self, x, skip=()):
        h = self.inp(x)
        for i, b in enumerate(self.blocks):
            if i in skip:
                continue
            h = b(h)
        return self.out(self.norm(h)).squeeze(-1)


def statsd(name, value, kind="g"):
    if isinstance(value, float):
        value = f"{value:.5g}"
    print(f"levain.{name}:{value}|{kind}", flush=True)


def count(tree):
    return sum(v.size for _, v in tree_flatten(tree))


def main():
    rng = np.random.default_rng(325)
    mx.random.seed(325)
    x, y = make_sheets(9000, rng)
    xtr, ytr, xva, yva = x[:7500], y[:7500], x[7500:], y[7500:]
    mu, sd = xtr.mean(0), xtr.std(0)
    ymu, ysd = float(ytr.mean()), float(ytr.std())
    Xtr = mx.array((xtr - mu) / sd)
    Ytr = mx.array((ytr - ymu) / ysd)
    Xva = mx.array((xva - mu) / sd)
    Yva = mx.array((yva - ymu) / ysd)

    model = ProofNet(len(FEATURES), 32, 6)
    mx.eval(model.parameters())

    def loss_fn(m, xb, yb):
        return nn.losses.mse_loss(m(xb), yb)

    def val_rmse(skip=()):
        pred = model(Xva, skip=skip)
        return math.sqrt(float(mx.mean((pred - Yva) ** 2))) * ysd

    statsd("data.train_rows", len(ytr), "c")
    statsd("data.val_rows", len(yva), "c")
    statsd("baseline.val_rmse_min", float(np.std(yva - ymu)))
    statsd("model.params", count(model.parameters()))

    # stage 1: full training
    steps1 = 800
    sched1 = optim.cosine_decay(2e-3, steps1, 5e-5)
    opt = optim.AdamW(learning_rate=sched1, weight_decay=1e-4)
    step_fn = nn.value_and_grad(model, loss_fn)
    t0 = time.perf_counter()
    window = []
    for step in range(1, steps1 + 1):
        idx = mx.array(rng.integers(0, len(ytr), 128))
        loss, grads = step_fn(model, Xtr[idx], Ytr[idx])
        if step == 1:
            flat = tree_flatten(grads)
            dead = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
            statsd("stage1.grad_leaves", len(flat))
            statsd("stage1.zero_grad_leaves", len(dead))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(float(loss))
        if step % 200 == 0:
            statsd("stage1.step", step, "c")
            statsd("stage1.train_mse_std", float(np.mean(window)))
            statsd("stage1.val_rmse_min", val_rmse())
            window = []
    statsd("stage1.elapsed", round(1000 * (time.perf_counter() - t0)), "ms")
    full_rmse = val_rmse()

    # block scoring: held-out error with each block skipped
    scores = []
    for i in range(len(model.blocks)):
        r = val_rmse(skip=(i,))
        scores.append(r - full_rmse)
        statsd(f"score.block{i}.val_rmse_skip_min", r)
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    cut = sorted(order[:2])
    statsd("surgery.cut_blocks", ",".join(str(i) for i in cut), "s")

    # surgery: drop the two blocks, remember which survivors follow a cut
    keep = [i for i in range(len(model.blocks)) if i not in cut]
    after_cut = sorted({k for c in cut for k in keep if k > c and
                        all(j in cut for j in range(c, k))})
    model.blocks = [model.blocks[i] for i in keep]
    new_pos = {old: new for new, old in enumerate(keep)}
    heal_pos = [new_pos[i] for i in after_cut]
    statsd("surgery.blocks_left", len(model.blocks))
    statsd("surgery.params", count(model.parameters()))
    cut_rmse = val_rmse()
    statsd("surgery.val_rmse_min", cut_rmse)

    # stage 2: settle with only the blocks after each cut plus the head free
    model.freeze()
    for p in heal_pos:
        model.blocks[p].unfreeze()
    model.norm.unfreeze()
    model.out.unfreeze()
    frozen_before = {k: mx.array(v) for k, v in tree_flatten(model.parameters())
                     if k not in dict(tree_flatten(model.trainable_parameters()))}
    statsd("stage2.trainable_params", count(model.trainable_parameters()))
    statsd("stage2.frozen_params", count(model.parameters())
           - count(model.trainable_parameters()))
    statsd("stage2.free_blocks", ",".join(str(p) for p in heal_pos), "s")

    steps2 = 500
    warm = 80
    sched2 = optim.join_schedules(
        [optim.linear_schedule(0.0, 1e-3, warm),
         optim.cosine_decay(1e-3, steps2 - warm, 2e-5)], [warm])
    opt2 = optim.AdamW(learning_rate=sched2, weight_decay=1e-4)
    step_fn2 = nn.value_and_grad(model, loss_fn)
    window = []
    for step in range(1, steps2 + 1):
        idx = mx.array(rng.integers(0, len(ytr), 128))
        lr_used = float(sched2(opt2.step))
        loss, grads = step_fn2(model, Xtr[idx], Ytr[idx])
        opt2.update(model, grads)
        mx.eval(model.parameters(), opt2.state, loss)
        window.append(float(loss))
        if step == 1:
            statsd("stage2.step1_lr", lr_used)
            statsd("stage2.step1_val_rmse_min", val_rmse())
        if step % 100 == 0:
            statsd("stage2.step", step, "c")
            statsd("stage2.lr", lr_used)
            statsd("stage2.train_mse_std", float(np.mean(window)))
            statsd("stage2.val_rmse_min", val_rmse())
            window = []

    final = val_rmse()
    params_now = dict(tree_flatten(model.parameters()))
    drift = max(float(mx.abs(params_now[k] - v).max())
                for k, v in frozen_before.items())
    statsd("done.val_rmse_full_min", full_rmse)
    statsd("done.val_rmse_after_cut_min", cut_rmse)
    statsd("done.val_rmse_final_min", final)
    statsd("done.frozen_max_change", drift)


if __name__ == "__main__":
    main()
