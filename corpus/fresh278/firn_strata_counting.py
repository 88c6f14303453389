"""Ice-core annual layer counting.

Each sample is a core segment of variable length (40..120 cm at 1 cm
resolution) with 4 chemistry channels (sodium, sulfate, dust, d18O).
Seasonal cycles have a slowly varying thickness; the target is the number
of annual layers in the segment. A Conv1d net with masked mean pooling
regresses the layer count.

Data pipeline: segments are grouped into length buckets, batches are
formed inside each bucket (last partial batch kept), bucket/batch order
is reshuffled every epoch. Training is interrupted in the middle of
epoch 3, a checkpoint (weights, optimizer state, batch cursor, RNG state)
is written, a fresh process-like object reloads it and finishes.
"""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 7
N_TRAIN, N_VAL = 800, 200
BATCH = 32
EPOCHS = 6
WARMUP = 40
PEAK_LR = 3e-3
BUCKET_EDGES = [40, 60, 80, 100, 121]


def make_segment(rng):
    L = int(rng.integers(40, 121))
    thick = rng.uniform(6.0, 14.0)  # cm per year at the top of the segment
    drift = rng.uniform(-0.25, 0.25)  # thinning/thickening with depth
    depth = np.arange(L, dtype=np.float64)
    local = np.clip(thick * (1.0 + drift * depth / 120.0), 4.0, 18.0)
    phase = np.cumsum(1.0 / local) + rng.uniform(0, 1)
    years = phase[-1] - phase[0]
    s = np.sin(2 * np.pi * phase)
    c = np.cos(2 * np.pi * phase)
    sodium = 0.9 * s + 0.35 * rng.standard_normal(L)
    sulfate = 0.6 * c + 0.4 * rng.standard_normal(L)
    dust = 0.5 * np.maximum(s, 0) + 0.4 * rng.standard_normal(L)
    d18o = -0.8 * s + 0.1 * depth / 120 + 0.4 * rng.standard_normal(L)
    x = np.stack([sodium, sulfate, dust, d18o], axis=1).astype(np.float32)
    return x, np.float32(years)


def build(n, rng):
    return [make_segment(rng) for _ in range(n)]


def pad_batch(items):
    L = max(x.shape[0] for x, _ in items)
    xs = np.zeros((len(items), L, 4), np.float32)
    m = np.zeros((len(items), L), np.float32)
    ys = np.zeros((len(items),), np.float32)
    for i, (x, y) in enumerate(items):
        xs[i, : x.shape[0]] = x
        m[i, : x.shape[0]] = 1.0
        ys[i] = y
    return mx.array(xs), mx.array(m), mx.array(ys)


def epoch_plan(data, rng):
    """List of index lists, one per batch, bucketed by length."""
    lengths = np.array([x.shape[0] for x, _ in data])
    plan = []
    for lo, hi in zip(BUCKET_EDGES[:-1], BUCKET_EDGES[1:]):
        idx = np.where((lengths >= lo) & (lengths < hi))[0]
        idx = idx[rng.permutation(len(idx))]
        for s in range(0, len(idx), BATCH):
            plan.append(idx[s : s + BATCH].tolist())
    order = rng.permutation(len(plan))
    return [plan[i] for i in order]


class LayerCounter(nn.Module):
    def __init__(self, ch=16):
        super().__init__()
        self.c1 = nn.Conv1d(4, ch, kernel_size=7, padding=3)
        self.c2 = nn.Conv1d(ch, ch, kernel_size=7, padding=3)
        self.c3 = nn.Conv1d(ch, ch, kernel_size=5, padding=2)
        self.head = nn.Sequential(nn.Linear(ch, 32), nn.GELU(), nn.Linear(32, 1))

    def __call__(self, x, m):
        h = nn.gelu(self.c1(x))
        h = nn.gelu(self.c2(h)) + h
        h = nn.gelu(self.c3(h))
        # per-cm "yearness" summed over valid positions -> count
        h = h * m[..., None]
        pooled = h.sum(axis=1) / 20.0
        return self.head(pooled).squeeze(-1)


def loss_fn(model, x, m, y, y_mu, y_sd):
    pred = model(x, m)
    return nn.losses.huber_loss(pred, (y - y_mu) / y_sd, delta=1.0, reduction="mean")


def make_opt(total_steps):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARMUP),
         optim.cosine_decay(PEAK_LR, total_steps - WARMUP, 1e-5)],
        [WARMUP],
    )
    return optim.Adam(learning_rate=sched)


def evaluate(model, data, y_mu, y_sd):
    err = []
    for s in range(0, len(data), 64):
        x, m, y = pad_batch(data[s : s + 64])
        pred = model(x, m) * y_sd + y_mu
        err.append(np.abs(np.array(pred - y)))
    return float(np.concatenate(err).mean())


def peak_baseline(data):
    """Naive count: number of upward zero crossings of smoothed sodium."""
    err = []
    for x, y in data:
        k = np.convolve(x[:, 0], np.ones(5) / 5, mode="same")
        ups = np.sum((k[:-1] < 0) & (k[1:] >= 0))
        err.append(abs(ups - y))
    return float(np.mean(err))


def save_ckpt(path, model, opt, epoch, cursor, rng, step):
    model.save_weights(os.path.join(path, "w.safetensors"))
    state = dict(tree_flatten(opt.state))
    mx.save_safetensors(os.path.join(path, "opt.safetensors"), state)
    with open(os.path.join(path, "meta.json"), "w") as f:
        json.dump({"epoch": epoch, "cursor": cursor, "step": step,
                   "rng": rng.bit_generator.state}, f)


def load_ckpt(path, model, opt):
    model.load_weights(os.path.join(path, "w.safetensors"))
    st = mx.load(os.path.join(path, "opt.safetensors"))
    opt.state = tree_unflatten(list(st.items()))
    with open(os.path.join(path, "meta.json")) as f:
        meta = json.load(f)
    rng = np.random.default_rng()
    rng.bit_generator.state = meta["rng"]
    return meta, rng


def run(train, val, y_mu, y_sd, total_steps, ckpt_dir, stop_at=None, resume=False):
    mx.random.seed(SEED)
    model = LayerCounter()
    opt = make_opt(total_steps)
    opt.init(model.trainable_parameters())
    start_epoch, start_cursor, step = 0, 0, 0
    rng = np.random.default_rng(SEED + 1)
    plan = None
    if resume:
        meta, rng = load_ckpt(ckpt_dir, model, opt)
        start_epoch, start_cursor, step = meta["epoch"], meta["cursor"], meta["step"]
        with open(os.path.join(ckpt_dir, "plan.json")) as f:
            plan = json.load(f)
        print(f"resumed: epoch {start_epoch} batch {start_cursor} step {step} "
              f"lr {float(opt.learning_rate):.2e}")
    mx.eval(model.parameters())
    lvg = nn.value_and_grad(model, loss_fn)

    for epoch in range(start_epoch, EPOCHS):
        if plan is None or epoch != start_epoch or not resume:
            plan = epoch_plan(train, rng)
        cursor0 = start_cursor if (resume and epoch == start_epoch) else 0
        t0 = time.perf_counter()
        tot, nb = 0.0, 0
        for b in range(cursor0, len(plan)):
            if stop_at is not None and (epoch, b) == stop_at:
                save_ckpt(ckpt_dir, model, opt, epoch, b, rng, step)
                with open(os.path.join(ckpt_dir, "plan.json"), "w") as f:
                    json.dump(plan, f)
                print(f"checkpoint written at epoch {epoch} batch {b} step {step}; stopping")
                return model
            x, m, y = pad_batch([train[i] for i in plan[b]])
            loss, g = lvg(model, x, m, y, y_mu, y_sd)
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            step += 1
            tot += loss.item()
            nb += 1
            if step <= 2 or step % 25 == 0:
                print(f"  step {step:4d} lr {float(opt.learning_rate):.2e} "
                      f"loss {loss.item():.4f} batch_len {x.shape[1]}")
        mae = evaluate(model, val, y_mu, y_sd)
        print(f"epoch {epoch} batches {nb} train_huber {tot / max(nb, 1):.4f} "
              f"val_mae_years {mae:.3f} ({time.perf_counter() - t0:.1f}s)")
    return model


def main():
    rng = np.random.default_rng(SEED)
    train = build(N_TRAIN, rng)
    val = build(N_VAL, rng)
    ys = np.array([y for _, y in train])
    y_mu, y_sd = float(ys.mean()), float(ys.std())
    probe = epoch_plan(train, np.random.default_rng(0))
    total_steps = EPOCHS * len(probe)
    print(f"train {N_TRAIN} val {N_VAL} batches/epoch {len(probe)} "
          f"(buckets {BUCKET_EDGES}) total_steps {total_steps}")
    print(f"layers per segment: mean {y_mu:.2f} sd {y_sd:.2f}")
    print(f"baseline val_mae_years: predict-mean {np.mean(np.abs(np.array([y for _, y in val]) - y_mu)):.3f}"
          f"  zero-crossing count {peak_baseline(val):.3f}")

    with tempfile.TemporaryDirectory() as d:
        print("== run 1 (stops mid-epoch)")
        run(train, val, y_mu, y_sd, total_steps, d, stop_at=(3, len(probe) // 2))
        print("== run 2 (resume)")
        model = run(train, val, y_mu, y_sd, total_steps, d, resume=True)
    final = evaluate(model, val, y_mu, y_sd)
    print(f"final val_mae_years {final:.3f}")


if __name__ == "__main__":
    main()
