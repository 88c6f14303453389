"""Foghorn cadence catalogue: give every recorded blast pattern a 10-bit code
with a lookup-free quantiser (LFQ: sign of each latent, straight-through).

The objective adds an entropy bonus that spreads the codes over the codebook:
    loss = mse + 0.1 * commit + 0.01 * mean_sample_entropy - 0.1 * batch_entropy
The batch-entropy term is subtracted, so the total sits below zero from the
first step on. Halfway through, the run writes a
checkpoint (weights + optimizer state), rebuilds everything from scratch and
resumes from the files.
"""
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(5)
T = 32          # samples per recording
BITS = 10
N_TRAIN, N_VAL = 3000, 600

# a station's cadence: blast count (1-3), blast length, gap, start offset, loudness
def make(n):
    t = np.arange(T)[None, :]
    count = rng.integers(1, 4, (n, 1))
    length = rng.integers(2, 6, (n, 1))
    gap = rng.integers(2, 5, (n, 1))
    start = rng.integers(0, 6, (n, 1))
    loud = rng.uniform(0.6, 1.0, (n, 1))
    on = np.zeros((n, T))
    for k in range(3):
        s = start + k * (length + gap)
        on += ((t >= s) & (t < s + length) & (k < count)).astype(float)
    x = loud * np.clip(on, 0, 1) + 0.03 * rng.standard_normal((n, T))
    key = count[:, 0] * 1000 + length[:, 0] * 100 + gap[:, 0] * 10 + start[:, 0]
    return x.astype(np.float32), key


xtr_np, _ = make(N_TRAIN)
xva_np, kva = make(N_VAL)
xtr, xva = mx.array(xtr_np), mx.array(xva_np)
mean_baseline = float(np.mean((xva_np - xtr_np.mean(0)) ** 2))
n_patterns = len(np.unique(kva))


class LFQCoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(T, 96), nn.SiLU(), nn.Linear(96, 96), nn.SiLU(),
                                 nn.Linear(96, BITS))
        self.dec = nn.Sequential(nn.Linear(BITS, 96), nn.SiLU(), nn.Linear(96, 96), nn.SiLU(),
                                 nn.Linear(96, T))

    def __call__(self, x):
        z = self.enc(x)
        s = mx.where(z > 0, 1.0, -1.0)
        q = z + mx.stop_gradient(s - z)
        return self.dec(q), z, s


def bin_entropy(p):
    p = mx.clip(p, 1e-6, 1 - 1e-6)
    return -(p * mx.log(p) + (1 - p) * mx.log(1 - p))


def objective(model, x):
    recon, z, s = model(x)
    mse = mx.mean((recon - x) ** 2)
    commit = mx.mean((z - mx.stop_gradient(s)) ** 2)
    p = mx.sigmoid(4.0 * z)
    sample_h = mx.mean(mx.sum(bin_entropy(p), axis=1))
    batch_h = mx.sum(bin_entropy(mx.mean(p, axis=0)))
    total = mse + 0.1 * commit + 0.01 * sample_h - 0.1 * batch_h
    return total, (mse, batch_h)


def build():
    m = LFQCoder()
    sched = optim.join_schedules(
        [optim.linear_schedule(1e-4, 1e-3, 60), optim.cosine_decay(1e-3, 1140, 1e-5)], [60])
    o = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    return m, o


def code_report(model):
    _, _, s = model(xva)
    bits = (np.array(s) > 0).astype(np.int64)
    codes = bits @ (1 << np.arange(BITS))
    distinct = len(np.unique(codes))
    balance = bits.mean(0)
    return distinct, float(balance.min()), float(balance.max())


mx.random.seed(0)
model, opt = build()
mx.eval(model.parameters())
step_fn = nn.value_and_grad(model, objective)

TOTAL, SAVE_AT, BS = 1200, 600, 100
ckpt_dir = tempfile.mkdtemp()
print(f"recordings train {N_TRAIN} val {N_VAL}; distinct cadences in val {n_patterns}; "
      f"predict-mean baseline mse {mean_baseline:.4f}; codebook 2^{BITS}={2 ** BITS}")
t0 = time.time()
order = np.arange(N_TRAIN)
step = 0
while step < TOTAL:
    if step % (N_TRAIN // BS) == 0:
        rng.shuffle(order)
    j = step % (N_TRAIN // BS)
    xb = xtr[mx.array(order[j * BS:(j + 1) * BS])]
    (total, (mse, bh)), grads = step_fn(model, xb)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, total)
    if step % 100 == 0 or step == TOTAL - 1:
        vtot, (vmse, _) = objective(model, xva)
        distinct, bmin, bmax = code_report(model)
        print(f"step {step:4d} lr {opt.learning_rate.item():.2e} total {total.item():+.4f} "
              f"mse {mse.item():.4f} batch_entropy {bh.item():.3f} | val total {vtot.item():+.4f} "
              f"val mse {vmse.item():.4f} distinct codes {distinct} bit balance {bmin:.2f}-{bmax:.2f}",
              flush=True)
    step += 1
    if step == SAVE_AT:
        mx.save_safetensors(os.path.join(ckpt_dir, "weights.safetensors"),
                            dict(tree_flatten(model.parameters())))
        mx.save_safetensors(os.path.join(ckpt_dir, "optimizer.safetensors"),
                            dict(tree_flatten(opt.state)))
        before = objective(model, xva)[0].item()
        del model, opt, step_fn
        model, opt = build()
        model.load_weights(os.path.join(ckpt_dir, "weights.safetensors"))
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "optimizer.safetensors")).items()))
        step_fn = nn.value_and_grad(model, objective)
        mx.eval(model.parameters(), opt.state)
        after = objective(model, xva)[0].item()
        print(f"-- checkpoint written at step {step}, process state rebuilt and resumed "
              f"(val total before {before:+.4f} after {after:+.4f}, optimizer step "
              f"{int(opt.state['step'].item())}) --")

_, (vmse, _) = objective(model, xva)
distinct, bmin, bmax = code_report(model)
print(f"final val mse {vmse.item():.4f} vs predict-mean {mean_baseline:.4f}; "
      f"{distinct} distinct codes for {n_patterns} cadences; {time.time() - t0:.1f}s")
shutil.rmtree(ckpt_dir, ignore_errors=True)
