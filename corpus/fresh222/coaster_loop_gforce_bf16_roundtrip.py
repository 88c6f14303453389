"""Roller-coaster design office: predict the vertical g-load a rider feels at the
top of a clothoid loop from the ride-sim inputs, so the designers can screen
layouts before the expensive multibody run.

Training notes
  * lr warms up linearly from exactly 0, then cosine cycles with warm restarts
    (the loss is allowed to bounce up after each restart).
  * half way through we do what the production job does: write the weights to
    a bfloat16 safetensors file, start a fresh process-like model, load it back,
    upcast to float32 and carry on with a fresh optimizer.  The reload costs a
    little accuracy (bf16 rounding), printed in the audit line.
"""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

G = 9.81
rng = np.random.default_rng(7)


def simulate(n):
    v_entry = rng.uniform(18.0, 30.0, n)          # m/s at loop entry
    radius = rng.uniform(6.0, 14.0, n)            # m, top-of-loop radius
    mass = rng.uniform(4000.0, 9000.0, n)         # kg, loaded train
    mu = rng.uniform(0.010, 0.030, n)             # rolling friction coeff
    temp = rng.uniform(-2.0, 34.0, n)             # deg C (grease viscosity)
    headwind = rng.normal(0.0, 3.0, n)            # m/s
    # energy lost on the way up: friction along half the loop + drag
    mu_eff = mu * (1.0 + 0.012 * np.clip(12.0 - temp, 0, None))
    path = math.pi * radius * 1.15
    drag = 0.45 * (v_entry + headwind) ** 2 * 2.2 / mass * path
    v_top2 = v_entry ** 2 - 2 * G * (2.0 * radius) - 2 * G * mu_eff * path - drag
    v_top2 = np.maximum(v_top2, 0.5)
    g_top = v_top2 / (G * radius) - 1.0           # +ve = pressed into seat
    g_top = g_top + rng.normal(0.0, 0.05, n)
    X = np.stack([v_entry, radius, mass / 1000.0, mu * 100, temp, headwind], 1)
    return X.astype(np.float32), g_top.astype(np.float32)[:, None]


Xtr, ytr = simulate(6000)
Xva, yva = simulate(1500)
mu_x, sd_x = Xtr.mean(0), Xtr.std(0)
Xtr = (Xtr - mu_x) / sd_x
Xva = (Xva - mu_x) / sd_x
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))


class LoopNet(nn.Module):
    def __init__(self, d_in=6, width=96):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.mid = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = h + nn.gelu(self.mid(h))
        return self.out(h)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


def val_metrics(model):
    p = model(Xva)
    m = mx.mean((p - yva) ** 2)
    mae = mx.mean(mx.abs(p - yva))
    mx.eval(m, mae)
    return m.item(), mae.item()


WARM = 120
CYCLES = [420, 420, 640]           # SGDR cycle lengths after warm-up
TOTAL = WARM + sum(CYCLES)
PEAK = 2e-3
ROUNDTRIP_AT = WARM + CYCLES[0] + 200
BATCH = 128


def lr_at(step):
    if step < WARM:
        return PEAK * step / WARM      # step 0 -> exactly 0
    s = step - WARM
    for i, c in enumerate(CYCLES):
        if s < c:
            peak = PEAK * (0.8 ** i)
            return 0.5 * peak * (1 + math.cos(math.pi * s / c)), i + 1, s
        s -= c
    return 0.0


def lr_info(step):
    r = lr_at(step)
    if isinstance(r, tuple):
        return r
    return r, 0, step


def bar(frac, width=24):
    k = int(round(frac * width))
    return "#" * k + "." * (width - k)


mx.random.seed(11)
model = LoopNet()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)
loss_and_grad = nn.value_and_grad(model, mse)

# check every parameter receives a gradient before we start
_, g0 = loss_and_grad(model, Xtr[:256], ytr[:256])
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print(f"grad check: {len(tree_flatten(g0))} tensors, zero-grad tensors: {dead or 'none'}")

n = Xtr.shape[0]
t0 = time.time()
ema = None
perm = np.random.default_rng(3).permutation(n)
ptr = 0
for step in range(TOTAL):
    lr, cyc, pos = lr_info(step)
    opt.learning_rate = lr
    if ptr + BATCH > n:
        perm = np.random.default_rng(step).permutation(n)
        ptr = 0
    idx = mx.array(perm[ptr:ptr + BATCH])
    ptr += BATCH
    loss, grads = loss_and_grad(model, Xtr[idx], ytr[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    lv = loss.item()
    ema = lv if ema is None else 0.9 * ema + 0.1 * lv

    if step == ROUNDTRIP_AT:
        vm_before, vmae_before = val_metrics(model)
        path = os.path.join(tempfile.mkdtemp(prefix="loopnet_"), "ckpt.safetensors")
        flat = dict(tree_flatten(model.parameters()))
        mx.save_safetensors(path, {k: v.astype(mx.bfloat16) for k, v in flat.items()})
        loaded = mx.load(path)
        fresh = LoopNet()
        fresh.load_weights([(k, v.astype(mx.float32)) for k, v in loaded.items()], strict=True)
        mx.eval(fresh.parameters())
        dmax = max(float(mx.max(mx.abs(flat[k] - v))) for k, v in tree_flatten(fresh.parameters()))
        wn = math.sqrt(sum(float(mx.sum(v * v)) for _, v in tree_flatten(fresh.parameters())))
        dtypes = sorted({str(v.dtype) for _, v in tree_flatten(fresh.parameters())})
        model = fresh
        opt = optim.AdamW(learning_rate=lr, weight_decay=1e-4)
        loss_and_grad = nn.value_and_grad(model, mse)
        vm_after, vmae_after = val_metrics(model)
        print(f"[ckpt] bf16 round-trip at step {step}: max|dw|={dmax:.2e} "
              f"||w||={wn:.3f} dtypes={dtypes} val_mse {vm_before:.4f} -> {vm_after:.4f} "
              f"(delta {vm_after - vm_before:+.4f}); optimizer state reset")

    if step % 60 == 0 or step == TOTAL - 1:
        vm, vmae = val_metrics(model)
        el = time.time() - t0
        print(f"loop-g {100 * (step + 1) / TOTAL:3.0f}%|{bar((step + 1) / TOTAL)}| "
              f"{step + 1}/{TOTAL} [{el:4.1f}s, cyc={cyc} it={pos}, lr={lr:.2e}, "
              f"mse={ema:.4f}, val_mse={vm:.4f}, val_mae={vmae:.3f} g]")

vm, vmae = val_metrics(model)
base = float(mx.mean((mx.mean(ytr) - yva) ** 2))
print(f"done: val_mse {vm:.4f} (predict-the-mean baseline {base:.4f}), "
      f"val_mae {vmae:.3f} g, R2={1 - vm / base:.3f}")
