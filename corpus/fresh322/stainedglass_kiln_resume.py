"""Stained-glass studio: predict the fired opacity of a vitreous paint layer
from the kiln log (16 temperature readings over the firing) and three sheet
notes (paint thickness, glass type flag, pre-fire drying hours).

The studio laptop gets closed in the middle of every long run, so the script
trains in two sittings: the first sitting stops at step 180 and writes a
checkpoint (weights, optimizer state, step and data-order RNG); the second
sitting builds everything from scratch, reads the checkpoint and carries on.
A reference run trains the same recipe in one sitting for comparison.
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

TOTAL_STEPS = 420
PAUSE_AT = 180
BATCH = 64
WARMUP = 40
PEAK_LR = 3e-3


def make_firings(n, rng):
    peak = rng.uniform(560, 680, n)            # degC soak temperature
    ramp = rng.uniform(0.6, 1.4, n)            # ramp-rate multiplier
    soak = rng.uniform(0.0, 1.0, n)            # share of the log spent soaking
    thick = rng.uniform(0.05, 0.4, n)          # mm of paint
    kind = rng.integers(0, 2, n).astype(np.float32)   # 0 = antique, 1 = float
    dry = rng.uniform(1, 48, n)                # hours drying
    t = np.linspace(0, 1, 16)[None, :]
    rise = np.clip(t * ramp[:, None] * 2.2, 0, 1)
    curve = 20 + (peak[:, None] - 20) * rise
    cool = np.clip((t - 0.55 - 0.3 * soak[:, None]) * 3, 0, 1)
    curve = curve - cool * (peak[:, None] - 80)
    curve = curve + rng.normal(0, 6, curve.shape)
    # heat-work: time spent above 540 degC, weighted by how far above
    heat = np.clip(curve - 540, 0, None).mean(1) / 60.0
    fuse = 1 / (1 + np.exp(-(heat - 0.55) * 6))
    opacity = (0.35 + 1.6 * thick) * (1 - 0.55 * fuse) + 0.08 * kind - 0.002 * dry
    opacity = opacity + rng.normal(0, 0.02, n)
    seq = ((curve - 350) / 220).astype(np.float32)[..., None]
    static = np.stack([(thick - 0.22) / 0.1, kind - 0.5, (dry - 24) / 14], 1).astype(np.float32)
    return seq, static, opacity.astype(np.float32)


class KilnNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(1, 32)
        self.head = nn.Sequential(nn.Linear(32 + 3, 48), nn.SiLU(), nn.Linear(48, 1))

    def __call__(self, seq, static):
        h = self.gru(seq)[:, -1, :]
        return self.head(mx.concatenate([h, static], axis=1)).squeeze(-1)


def build():
    mx.random.seed(11)
    model = KilnNet()
    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARMUP),
         optim.cosine_decay(PEAK_LR, TOTAL_STEPS - WARMUP, 1e-4)],
        [WARMUP])
    opt = optim.Adam(learning_rate=schedule)
    return model, opt


def loss_fn(model, seq, static, y):
    return nn.losses.huber_loss(model(seq, static), y, delta=0.1, reduction="mean")


def train(model, opt, data, order_rng, start, stop, tag, log_every=60):
    seq, static, y = data
    step_fn = nn.value_and_grad(model, loss_fn)
    n = len(y)
    for step in range(start, stop):
        idx = order_rng.integers(0, n, BATCH)
        loss, grads = step_fn(model, mx.array(seq[idx]), mx.array(static[idx]), mx.array(y[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if (step + 1) % log_every == 0:
            print(f"[{tag}] step {step + 1:4d}  huber {loss.item():.5f}  lr {opt.learning_rate.item():.2e}")


def mae(model, data):
    seq, static, y = data
    pred = model(mx.array(seq), mx.array(static))
    return float(mx.mean(mx.abs(pred - mx.array(y))).item())


def save_checkpoint(folder, model, opt, step, order_rng):
    mx.save_safetensors(os.path.join(folder, "weights.safetensors"), dict(tree_flatten(model.parameters())))
    mx.save_safetensors(os.path.join(folder, "optimizer.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(folder, "progress.json"), "w") as f:
        json.dump({"step": step, "order_rng": order_rng.bit_generator.state}, f)


def load_checkpoint(folder):
    model, opt = build()
    model.load_weights(os.path.join(folder, "weights.safetensors"))
    opt.state = tree_unflatten(list(mx.load(os.path.join(folder, "optimizer.safetensors")).items()))
    with open(os.path.join(folder, "progress.json")) as f:
        info = json.load(f)
    order_rng = np.random.default_rng()
    order_rng.bit_generator.state = info["order_rng"]
    mx.eval(model.parameters(), opt.state)
    return model, opt, info["step"], order_rng


def main():
    t0 = time.time()
    rng = np.random.default_rng(5)
    train_data = make_firings(6000, rng)
    val_data = make_firings(1200, rng)
    base = float(np.mean(np.abs(val_data[2] - np.median(train_data[2]))))
    print(f"firings: {len(train_data[2])} train / {len(val_data[2])} val, "
          f"median-opacity baseline MAE {base:.4f}")

    with tempfile.TemporaryDirectory() as folder:
        model, opt = build()
        order_rng = np.random.default_rng(99)
        print(f"sitting 1: steps 0..{PAUSE_AT}, lr starts at {opt.learning_rate.item():.1e}")
        train(model, opt, train_data, order_rng, 0, PAUSE_AT, "sitting 1")
        print(f"sitting 1 stopped at step {PAUSE_AT}: val MAE {mae(model, val_data):.4f}")
        save_checkpoint(folder, model, opt, PAUSE_AT, order_rng)
        del model, opt, order_rng

        model, opt, step, order_rng = load_checkpoint(folder)
        print(f"sitting 2: checkpoint read, optimizer step {int(opt.state['step'].item())}, "
              f"val MAE {mae(model, val_data):.4f}")
        train(model, opt, train_data, order_rng, step, TOTAL_STEPS, "sitting 2")
        two_sittings = mae(model, val_data)

    ref, ref_opt = build()
    train(ref, ref_opt, train_data, np.random.default_rng(99), 0, TOTAL_STEPS, "reference", log_every=140)
    one_sitting = mae(ref, val_data)
    gap = max(float(mx.max(mx.abs(a - b)).item())
              for (_, a), (_, b) in zip(tree_flatten(model.parameters()), tree_flatten(ref.parameters())))
    print(f"val MAE two sittings {two_sittings:.4f} | one sitting {one_sitting:.4f} | baseline {base:.4f}")
    print(f"largest parameter difference between the two runs: {gap:.2e}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
