"""Sclerochronology: cross-date two coral cores with a contrastive encoder.

Core A and core B grew on the same reef, so a 24-band window of
(Sr/Ca, band density, UV-fluorescence) from core A has a same-year twin in
core B (different noise, small growth-rate stretch, instrument gain).  A
shared MLP encoder is trained with InfoNCE so that same-year windows match.

Schedule: learning rate warms up from exactly 0; stage "far" draws the
in-batch negatives from anywhere in the record, stage "near" draws them all
from one 160-year stretch, so neighbouring (harder) years compete.
Logs are JSON lines.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(148)
mx.random.seed(148)

YEARS = 3000
WIN = 24
CH = 3

# ---- synthetic reef record ---------------------------------------------------
t = np.arange(YEARS, dtype=np.float64)
enso = np.zeros(YEARS)
for k in range(1, YEARS):
    enso[k] = 0.75 * enso[k - 1] + rng.normal(0, 1)
sst = 0.6 * np.sin(2 * np.pi * t / 11.0) + 0.4 * np.sin(2 * np.pi * t / 60.0 + 1.0) + 0.5 * enso
srca = -sst + 0.3 * rng.normal(size=YEARS)
density = 0.5 * sst + 0.8 * np.convolve(rng.normal(size=YEARS), np.ones(5) / 5, mode="same")
uv = np.where(rng.random(YEARS) < 0.06, 2.5, 0.0) + 0.4 * enso  # flood years
master = np.stack([srca, density, uv], axis=1)
master = (master - master.mean(0)) / master.std(0)


def core_window(start, core):
    """Window of WIN bands starting at year `start` as seen in core A or B."""
    idx = start + np.arange(WIN)
    if core == 1:
        stretch = rng.uniform(0.85, 1.15)
        idx = start + np.clip(np.arange(WIN) * stretch, 0, WIN + 3)
    lo = np.floor(idx).astype(int)
    frac = (idx - lo)[:, None]
    x = (1 - frac) * master[lo] + frac * master[np.minimum(lo + 1, YEARS - 1)]
    gain = 1.0 if core == 0 else rng.uniform(0.6, 1.4, size=(1, CH))
    return (gain * x + 1.0 * rng.normal(size=x.shape) + rng.normal(0, 0.5, size=(1, CH))).astype(np.float32)


train_starts = np.arange(0, 2400 - WIN - 4)
test_starts = np.arange(2450, YEARS - WIN - 4)


def make_batch(starts):
    a = np.stack([core_window(s, 0) for s in starts]).reshape(len(starts), -1)
    b = np.stack([core_window(s, 1) for s in starts]).reshape(len(starts), -1)
    return mx.array(a), mx.array(b)


def sample_starts(pool, n, stage):
    if stage == "far":
        return rng.choice(pool, size=n, replace=False)
    lo = rng.integers(pool[0], pool[-1] - 160)
    return rng.choice(np.arange(lo, lo + 160), size=n, replace=False)


class Encoder(nn.Module):
    def __init__(self, d_in=WIN * CH, d_h=96, d_out=32):
        super().__init__()
        self.l1 = nn.Linear(d_in, d_h)
        self.l2 = nn.Linear(d_h, d_h)
        self.out = nn.Linear(d_h, d_out)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = h + nn.gelu(self.l2(h))
        z = self.out(h)
        return z / mx.sqrt(mx.sum(z * z, axis=-1, keepdims=True) + 1e-8)


TAU = 0.1


def info_nce(model, xa, xb):
    za, zb = model(xa), model(xb)
    logits = (za @ zb.T) / TAU
    labels = mx.arange(xa.shape[0])
    l_ab = nn.losses.cross_entropy(logits, labels, reduction="mean")
    l_ba = nn.losses.cross_entropy(logits.T, labels, reduction="mean")
    return 0.5 * (l_ab + l_ba)


def evaluate(model, stage, n=64, reps=4):
    hits, align = 0.0, 0.0
    for _ in range(reps):
        xa, xb = make_batch(sample_starts(test_starts, n, stage))
        za, zb = model(xa), model(xb)
        sim = za @ zb.T
        hits += (mx.argmax(sim, axis=1) == mx.arange(n)).astype(mx.float32).mean().item()
        align += mx.mean(mx.sum((za - zb) ** 2, axis=-1)).item()
    return hits / reps, align / reps


model = Encoder()
mx.eval(model.parameters())

BATCH = 64
STAGES = [("far", 400), ("near", 400)]
TOTAL = sum(n for _, n in STAGES)
WARM = 100
PEAK = 2e-3


def lr_at(step):
    if step < WARM:
        return PEAK * step / WARM  # step 0 -> exactly 0
    p = (step - WARM) / (TOTAL - WARM)
    return PEAK * 0.5 * (1 + math.cos(math.pi * p))


optimizer = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)
loss_and_grad = nn.value_and_grad(model, info_nce)

# one-off check that every weight matrix receives gradient
xa0, xb0 = make_batch(sample_starts(train_starts, BATCH, "far"))
_, g0 = loss_and_grad(model, xa0, xb0)
from mlx.utils import tree_flatten

print(json.dumps({"event": "grad_check",
                  "min_abs_grad_norm": min(mx.linalg.norm(v).item() for _, v in tree_flatten(g0))}))

t0 = time.time()
step = 0
for stage, n_steps in STAGES:
    for k in range(n_steps):
        optimizer.learning_rate = lr_at(step)
        xa, xb = make_batch(sample_starts(train_starts, BATCH, stage))
        loss, grads = loss_and_grad(model, xa, xb)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        if k % 50 == 0 or k == n_steps - 1:
            rec = {"stage": stage, "k": k, "step": step, "lr": round(lr_at(step), 6),
                   "nce": round(loss.item(), 4), "chance_nce": round(math.log(BATCH), 4)}
            if k % 200 == 0 or k == n_steps - 1:
                r1, al = evaluate(model, stage)
                rec.update({"r@1": round(r1, 3), "chance_r@1": round(1 / 64, 3), "align": round(al, 4)})
            print(json.dumps(rec))
        step += 1

summary = {"event": "summary", "wall_s": round(time.time() - t0, 1)}
for stage, _ in STAGES:
    r1, al = evaluate(model, stage, reps=8)
    summary[f"test_r@1_{stage}"] = round(r1, 3)
    summary[f"test_align_{stage}"] = round(al, 4)
print(json.dumps(summary))
