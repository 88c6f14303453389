"""Tree-nursery sapling survival, three nursery shards of very different size.

Each step draws a set number of rows from every nursery (24 / 12 / 10), so the small
nursery cycles through many more of its own epochs than the large one. Each shard
keeps its own cursor and epoch counter. The run stops after stage 1, writes a
checkpoint (weights, optimizer state, shard cursors), rebuilds everything from
that checkpoint and continues with a warm restart of the learning rate (stage 2).
About 12% of the survival labels are flipped, so the loss settles on a floor.
"""
import json
import math
import os
import shutil
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

SHARDS = {"riverside": 2400, "hillcrest": 1200, "quarry": 300}
PER_STEP = {"riverside": 24, "hillcrest": 12, "quarry": 10}
STAGE1, STAGE2 = 300, 300
FLIP = 0.12


def make_nursery(name, n, rng):
    shift = {"riverside": 0.0, "hillcrest": 0.4, "quarry": -0.5}[name]
    root = rng.normal(0, 1, n)
    height = rng.normal(shift, 1, n)
    soil_n = rng.uniform(-1, 1, n)
    water = rng.normal(0, 1, n)
    frost = (rng.uniform(0, 1, n) < 0.2 + 0.1 * (shift < 0)).astype(np.float64)
    species = rng.integers(0, 3, n)
    logit = 1.4 * root + 0.8 * soil_n - 0.9 * frost + 0.6 * np.tanh(water) - 0.5 * (height - shift) ** 2 \
        + np.array([0.3, -0.2, 0.0])[species] + 0.9
    y = (logit > 0).astype(np.float64)
    clean = y.copy()
    flip = rng.uniform(0, 1, n) < FLIP
    y[flip] = 1 - y[flip]
    x = np.stack([root, height, soil_n, water, frost, species == 0, species == 1, species == 2], 1)
    return x.astype(np.float32), y.astype(np.float32), clean.astype(np.float32)


class Cursor:
    def __init__(self, n, seed):
        self.n, self.seed, self.epoch, self.pos = n, seed, 0, 0
        self.order = np.random.default_rng(seed).permutation(n)

    def take(self, k):
        if self.pos + k > self.n:
            self.epoch += 1
            self.pos = 0
            self.order = np.random.default_rng(self.seed + 1000 * self.epoch).permutation(self.n)
        out = self.order[self.pos:self.pos + k]
        self.pos += k
        return out

    def state(self):
        return {"epoch": self.epoch, "pos": self.pos}

    def restore(self, s):
        self.epoch, self.pos = s["epoch"], s["pos"]
        self.order = np.random.default_rng(self.seed + 1000 * self.epoch).permutation(self.n)


class SaplingNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 32), nn.GELU(), nn.Linear(32, 32), nn.GELU())
        self.head = nn.Linear(32, 1)

    def __call__(self, x):
        return self.head(self.body(x)).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y, with_logits=True, reduction="mean")


def build(lr_sched):
    mx.random.seed(3)
    model = SaplingNet()
    opt = optim.Adam(learning_rate=lr_sched)
    return model, opt


def run_steps(model, opt, cursors, data, first, last, log_every=50):
    vg = nn.value_and_grad(model, loss_fn)
    for step in range(first, last):
        xs, ys = [], []
        for name, cur in cursors.items():
            idx = cur.take(PER_STEP[name])
            xs.append(data[name][0][idx])
            ys.append(data[name][1][idx])
        xb, yb = mx.array(np.concatenate(xs)), mx.array(np.concatenate(ys))
        loss, g = vg(model, xb, yb)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        if step % log_every == 0 or step == last - 1:
            ep = " ".join(f"{k}:{c.epoch}" for k, c in cursors.items())
            print(f"step {step:4d}  lr {opt.learning_rate.item():.2e}  bce {loss.item():.4f}  epochs[{ep}]",
                  flush=True)
    return model


def evaluate(model, val, tag):
    x, y, clean = val
    p = mx.sigmoid(model(mx.array(x)))
    pred = (p > 0.5).astype(mx.float32)
    acc = mx.mean(pred == mx.array(y)).item()
    acc_clean = mx.mean(pred == mx.array(clean)).item()
    bce = nn.losses.binary_cross_entropy(model(mx.array(x)), mx.array(y), with_logits=True).item()
    maj = max(y.mean(), 1 - y.mean())
    print(f"[{tag}] val bce {bce:.4f}  acc {acc:.3f} (majority {maj:.3f}, noise ceiling {1 - FLIP:.2f})  "
          f"acc_vs_clean {acc_clean:.3f}", flush=True)
    return bce


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    data = {k: make_nursery(k, n, rng) for k, n in SHARDS.items()}
    val_parts = [make_nursery(k, 400, rng) for k in SHARDS]
    val = tuple(np.concatenate([v[i] for v in val_parts]) for i in range(3))
    floor = -(FLIP * math.log(FLIP) + (1 - FLIP) * math.log(1 - FLIP))
    print(f"shards: {SHARDS}  per-step rows: {PER_STEP}  label-noise bce floor ~{floor:.3f}", flush=True)

    cursors = {k: Cursor(n, seed=i * 17 + 1) for i, (k, n) in enumerate(SHARDS.items())}
    sched1 = optim.join_schedules([optim.linear_schedule(0.0, 4e-3, 40), optim.cosine_decay(4e-3, STAGE1 - 40, 2e-4)],
                                  [40])
    model, opt = build(sched1)
    print("== stage 1", flush=True)
    run_steps(model, opt, cursors, data, 0, STAGE1)
    evaluate(model, val, "stage 1")

    ckpt = tempfile.mkdtemp(prefix="nursery_ckpt_")
    model.save_weights(os.path.join(ckpt, "weights.safetensors"))
    opt_state = dict(tree_flatten(opt.state))
    mx.save_safetensors(os.path.join(ckpt, "optimizer.safetensors"), opt_state)
    with open(os.path.join(ckpt, "cursors.json"), "w") as f:
        json.dump({k: c.state() for k, c in cursors.items()}, f)
    print(f"checkpoint written ({len(opt_state)} optimizer tensors, step {opt.step.item()})", flush=True)
    probe_x = mx.array(val[0][:256])
    before = model(probe_x)
    del model, opt

    # stage 2: rebuild from disk, warm restart of the schedule
    sched2 = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 20), optim.cosine_decay(2e-3, STAGE2 - 20, 5e-5)],
                                  [20])
    model, opt = build(sched2)
    model.load_weights(os.path.join(ckpt, "weights.safetensors"))
    opt.init(model.trainable_parameters())
    loaded = mx.load(os.path.join(ckpt, "optimizer.safetensors"))
    restored = tree_unflatten(list(loaded.items()))
    restored["step"] = mx.array(0, dtype=mx.uint64)  # restart schedule
    opt.state = restored
    with open(os.path.join(ckpt, "cursors.json")) as f:
        for k, s in json.load(f).items():
            cursors[k].restore(s)
    drift = mx.max(mx.abs(model(probe_x) - before)).item()
    print(f"resumed from checkpoint, max logit drift {drift:.2e}", flush=True)
    shutil.rmtree(ckpt)

    print("== stage 2 (warm restart)", flush=True)
    run_steps(model, opt, cursors, data, STAGE1, STAGE1 + STAGE2)
    evaluate(model, val, "stage 2")
    print(f"done in {time.time() - t0:.1f}s", flush=True)


if __name__ == "__main__":
    main()
