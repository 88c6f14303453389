"""Millstone dressing log: furrow wear per 100 running hours (mm), three quantiles.

Leg A trains until a simulated preemption; leg B starts from scratch objects,
finds the newest checkpoint on disk, replays the lost steps and carries on.
At the end the last four checkpoints are averaged and compared.
"""
import glob
import os
import re
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten, tree_map

QUANTS = mx.array([0.1, 0.5, 0.9])
TOTAL_STEPS = 600
CKPT_EVERY = 50
PREEMPT_AT = 230
LOG_EVERY = 25
BATCH = 128


def synth(n, rng):
    hard = rng.uniform(0, 1, n)          # grain hardness index
    rpm = rng.uniform(90, 150, n)        # runner stone speed
    feed = rng.uniform(0.2, 1.0, n)      # feed rate (relative)
    burr = rng.integers(0, 2, n)         # French burr (1) or peak stone (0)
    moist = rng.uniform(10, 18, n)       # grain moisture %
    hours = rng.uniform(0, 300, n)       # hours since last dressing
    wear = (0.35 + 0.5 * hard * feed + 0.004 * (rpm - 90) - 0.18 * burr
            + 0.0012 * hours - 0.02 * (moist - 14))
    scale = 0.04 + 0.12 * hard + 0.05 * (1 - burr)
    wear = wear + scale * rng.standard_normal(n)
    X = np.stack([hard, rpm, feed, burr, moist, hours], 1).astype(np.float32)
    return X, wear.astype(np.float32)


class QuantileNet(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.head = nn.Linear(width, 3)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        raw = self.head(h)
        low = raw[:, :1]
        gaps = nn.softplus(raw[:, 1:])
        return mx.concatenate([low, low + mx.cumsum(gaps, axis=1)], axis=1)


def pinball(pred, y):
    diff = y[:, None] - pred
    return mx.mean(mx.maximum(QUANTS * diff, (QUANTS - 1) * diff))


def loss_fn(model, X, y):
    return pinball(model(X), y)


SCHED = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, 40), optim.cosine_decay(2e-3, TOTAL_STEPS - 40, 2e-5)],
    [40],
)


def make_optimizer():
    return optim.RMSprop(learning_rate=SCHED, alpha=0.95)


def batch_for_step(step, n):
    # each step draws its own rows from a step-seeded generator, so a replay is exact
    return np.random.default_rng(10_000 + step).integers(0, n, BATCH)


def evaluate(model, X, y):
    pred = model(X)
    cov = mx.mean((y >= pred[:, 0]) & (y <= pred[:, 2]))
    return pinball(pred, y).item(), cov.item()


def save_ckpt(ckdir, step, model, opt):
    model.save_weights(os.path.join(ckdir, f"weights_{step:05d}.npz"))
    mx.savez(os.path.join(ckdir, f"optim_{step:05d}.npz"), **dict(tree_flatten(opt.state)))


def newest_step(ckdir):
    steps = [int(re.search(r"(\d+)", os.path.basename(p)).group(1))
             for p in glob.glob(os.path.join(ckdir, "weights_*.npz"))]
    return max(steps) if steps else 0


rng = np.random.default_rng(7)
Xtr, ytr = synth(6000, rng)
Xva, yva = synth(1500, rng)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr_m, Xva_m = mx.array((Xtr - mu) / sd), mx.array((Xva - mu) / sd)
ytr_m, yva_m = mx.array(ytr), mx.array(yva)

# yardstick: the same three quantiles of the training wear, ignoring the inputs
clim = mx.array(np.quantile(ytr, [0.1, 0.5, 0.9]).astype(np.float32))
clim_pred = mx.broadcast_to(clim, (len(yva), 3))
clim_pin = pinball(clim_pred, yva_m).item()
clim_cov = mx.mean((yva_m >= clim_pred[:, 0]) & (yva_m <= clim_pred[:, 2])).item()

ckdir = tempfile.mkdtemp()
print("# millstone furrow wear, quantiles 0.1/0.5/0.9, mm per 100 h")
print(f"# train {len(ytr)} rows, valid {len(yva)} rows, checkpoints every {CKPT_EVERY} steps")
print(f"# yardstick (input-blind quantiles): val pinball {clim_pin:.4f}, 80% band coverage {clim_cov:.3f}")
print("| leg | step | lr | batch pinball | val pinball | val cover80 |")
print("|-----|------|----|---------------|-------------|-------------|")


def run_leg(leg, model, opt, start, stop, seen):
    step_fn = nn.value_and_grad(model, loss_fn)
    for step in range(start + 1, stop + 1):
        idx = mx.array(batch_for_step(step, len(ytr)))
        lr_now = SCHED(step - 1).item()
        loss, grads = step_fn(model, Xtr_m[idx], ytr_m[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % LOG_EVERY == 0 or step == 1:
            vp, vc = evaluate(model, Xva_m, yva_m)
            print(f"| {leg} | {step} | {lr_now:.2e} | {loss.item():.4f} | {vp:.4f} | {vc:.3f} |")
            seen.setdefault(step, []).append(loss.item())
        if step % CKPT_EVERY == 0:
            save_ckpt(ckdir, step, model, opt)


t0 = time.perf_counter()
seen = {}
mx.random.seed(1)
model = QuantileNet(6)
opt = make_optimizer()
mx.eval(model.parameters())
vp0, vc0 = evaluate(model, Xva_m, yva_m)
print(f"# untrained: val pinball {vp0:.4f}, cover80 {vc0:.3f}")
run_leg("A", model, opt, 0, PREEMPT_AT, seen)
print(f"# leg A stopped at step {PREEMPT_AT} (preempted); steps after the last checkpoint are lost")
del model, opt

# leg B: new objects with a different init, everything comes from disk
mx.random.seed(99)
model = QuantileNet(6)
opt = make_optimizer()
start = newest_step(ckdir)
model.load_weights(os.path.join(ckdir, f"weights_{start:05d}.npz"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, f"optim_{start:05d}.npz")).items()))
mx.eval(model.parameters(), opt.state)
print(f"# leg B resumed from checkpoint step {start} (optimizer step {opt.step.item()}); replaying {PREEMPT_AT - start} steps")
run_leg("B", model, opt, start, TOTAL_STEPS, seen)
replayed = {s: v for s, v in seen.items() if len(v) == 2}
gap = max(abs(v[0] - v[1]) for v in replayed.values())
print(f"# replayed rows {sorted(replayed)}: max |batch pinball A - B| = {gap:.2e}")

# average the last four checkpoints from disk
final_pin, final_cov = evaluate(model, Xva_m, yva_m)
last = sorted(int(re.search(r"(\d+)", os.path.basename(p)).group(1))
              for p in glob.glob(os.path.join(ckdir, "weights_*.npz")))[-4:]
stacks = [dict(mx.load(os.path.join(ckdir, f"weights_{s:05d}.npz"))) for s in last]
avg = {k: sum(s[k] for s in stacks) / len(stacks) for k in stacks[0]}
averaged = QuantileNet(6)
averaged.load_weights(list(avg.items()))
avg_pin, avg_cov = evaluate(averaged, Xva_m, yva_m)
print(f"# final weights:            val pinball {final_pin:.4f}, cover80 {final_cov:.3f}")
print(f"# mean of checkpoints {last}: val pinball {avg_pin:.4f}, cover80 {avg_cov:.3f}")
print(f"# yardstick:                val pinball {clim_pin:.4f}, cover80 {clim_cov:.3f}")
print(f"# done in {time.perf_counter() - t0:.1f} s")
shutil.rmtree(ckdir)
