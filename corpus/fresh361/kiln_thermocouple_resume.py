"""Kiln firing logs: masked latent regression against a momentum teacher, in two sessions.

Session 1 trains for a while and writes a checkpoint (student, teacher, optimizer
state, step).  Session 2 rebuilds everything from that checkpoint and continues with
a fresh warmup-from-zero cosine cycle.  The objective is the negative cosine
similarity between the student's prediction from the masked curve and the teacher's
batch-standardised hidden states on the full curve, so it runs from about 0 toward -1.
"""
import json
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map, tree_unflatten

SEED = 11
L, EMB = 48, 16
BATCH = 64
S1_STEPS, S2_STEPS = 240, 240
MASK_P = 0.4

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def firing_curves(n):
    """3 programs: bisque (slow ramp), glaze (fast ramp + soak), reduction (ramp + dip)."""
    t = np.linspace(0, 1, L, dtype=np.float32)
    y = rng.integers(0, 3, size=n)
    x = np.empty((n, L), dtype=np.float32)
    for i in range(n):
        peak = rng.uniform(0.8, 1.2)
        if y[i] == 0:
            c = peak * np.clip(t / 0.9, 0, 1) ** 1.5
        elif y[i] == 1:
            c = peak * np.minimum(t / 0.45, 1.0)
        else:
            c = peak * np.minimum(t / 0.6, 1.0) - 0.25 * np.exp(-((t - 0.75) ** 2) / 0.004)
        shift = rng.integers(-3, 4)
        x[i] = np.roll(c, shift) + 0.05 * rng.standard_normal(L)
    return x, y


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(L, 96)
        self.l2 = nn.Linear(96, 64)
        self.l3 = nn.Linear(64, EMB)

    def __call__(self, x, layers=False):
        h1 = nn.silu(self.l1(x))
        h2 = nn.silu(self.l2(h1))
        z = self.l3(h2)
        return (z, [h2, z]) if layers else z


class Student(nn.Module):
    def __init__(self):
        super().__init__()
        self.mask_value = mx.zeros((L,))
        self.encoder = Encoder()
        self.head = nn.Sequential(nn.Linear(EMB, 64), nn.SiLU(), nn.Linear(64, 64 + EMB))

    def __call__(self, x, mask):
        xm = mx.where(mask, self.mask_value, x)
        return self.head(self.encoder(xm))


def teacher_target(teacher, x):
    _, hs = teacher(x, layers=True)
    hs = [(h - mx.mean(h, axis=0)) / (mx.std(h, axis=0) + 1e-5) for h in hs]
    return mx.stop_gradient(mx.concatenate(hs, axis=-1))


def loss_fn(student, x, mask, tgt):
    p = student(x, mask)
    cos = mx.sum(p * tgt, -1) / (mx.linalg.norm(p, axis=-1) * mx.linalg.norm(tgt, axis=-1) + 1e-6)
    return -mx.mean(cos)


def cycle_schedule(steps, peak=2e-3, warm=30):
    return optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, 1e-5)], [warm])


def probe(enc, xa, ya, xb, yb):
    fa = np.concatenate([np.array(h) for h in enc(mx.array(xa), layers=True)[1]], 1)
    fb = np.concatenate([np.array(h) for h in enc(mx.array(xb), layers=True)[1]], 1)
    mu, sd = fa.mean(0), fa.std(0) + 1e-6
    fa, fb = (fa - mu) / sd, (fb - mu) / sd
    cents = np.stack([fa[ya == k].mean(0) for k in range(3)])
    pred = ((fb[:, None, :] - cents[None]) ** 2).sum(-1).argmin(1)
    return float((pred == yb).mean())


x_tr, y_tr = firing_curves(4000)
x_te, y_te = firing_curves(1000)
X = mx.array(x_tr)
ckpt_dir = tempfile.mkdtemp()


def train_session(student, teacher, opt, start, steps, m0, log_every):
    grad_fn = nn.value_and_grad(student, loss_fn)
    losses = []
    for k in range(steps):
        step = start + k
        xb = X[mx.array(rng.integers(0, len(x_tr), BATCH))]
        mask = mx.random.bernoulli(MASK_P, xb.shape)
        tgt = teacher_target(teacher, xb)
        loss, g = grad_fn(student, xb, mask, tgt)
        opt.update(student, g)
        m = 1.0 - (1.0 - m0) * (math.cos(math.pi * k / steps) + 1) / 2
        teacher.update(tree_map(lambda a, b: m * a + (1 - m) * b,
                                teacher.parameters(), student.encoder.parameters()))
        mx.eval(student.parameters(), teacher.parameters(), opt.state, loss)
        losses.append(loss.item())
        if log_every and (k % log_every == 0 or k == steps - 1):
            print(f"  step {step:4d} lr {opt.learning_rate.item():.2e} ema {m:.4f} "
                  f"neg_cos {losses[-1]:+.4f} (mean last 20 {np.mean(losses[-20:]):+.4f})")
    return losses


def save_ckpt(student, teacher, opt, step):
    mx.save_safetensors(os.path.join(ckpt_dir, "student.safetensors"), dict(tree_flatten(student.parameters())))
    mx.save_safetensors(os.path.join(ckpt_dir, "teacher.safetensors"), dict(tree_flatten(teacher.parameters())))
    mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(ckpt_dir, "meta.json"), "w") as f:
        json.dump({"step": step}, f)


t0 = time.time()
baseline_enc = Encoder()
mx.eval(baseline_enc.parameters())
print(f"curves train={len(x_tr)} test={len(x_te)} len={L} mask_p={MASK_P}")
print(f"centroid probe, untrained encoder: {probe(baseline_enc, x_tr, y_tr, x_te, y_te):.3f} (chance 0.333)")

# ---- session 1 -------------------------------------------------------------
student = Student()
teacher = Encoder()
teacher.update(tree_map(lambda p: p, student.encoder.parameters()))
teacher.freeze()
opt = optim.Adam(learning_rate=cycle_schedule(S1_STEPS))
mx.eval(student.parameters(), teacher.parameters())
print("session 1")
l1 = train_session(student, teacher, opt, 0, S1_STEPS, 0.99, log_every=60)
save_ckpt(student, teacher, opt, S1_STEPS)
print(f"session 1 saved at step {S1_STEPS}; probe(teacher) {probe(teacher, x_tr, y_tr, x_te, y_te):.3f}")
del student, teacher, opt

# ---- session 2: rebuild from disk -----------------------------------------
student = Student()
student.update(tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "student.safetensors")).items())))
teacher = Encoder()
teacher.update(tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "teacher.safetensors")).items())))
teacher.freeze()
with open(os.path.join(ckpt_dir, "meta.json")) as f:
    start = json.load(f)["step"]
opt = optim.Adam(learning_rate=cycle_schedule(S2_STEPS, peak=1e-3))
opt.init(student.trainable_parameters())
saved = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
saved["step"] = mx.array(0, dtype=mx.uint64)  # new lr cycle, moments carried over
opt.state = saved
mx.eval(student.parameters(), teacher.parameters(), opt.state)
print(f"session 2 resumed from step {start}")
l2 = train_session(student, teacher, opt, start, S2_STEPS, 0.995, log_every=0)
print(f"  (quiet session) first-20 mean {np.mean(l2[:20]):+.4f} last-20 mean {np.mean(l2[-20:]):+.4f}")

acc = probe(teacher, x_tr, y_tr, x_te, y_te)
print(f"final neg_cos {np.mean(l2[-20:]):+.4f} (start {np.mean(l1[:5]):+.4f})")
print(f"centroid probe: teacher {acc:.3f} | untrained {probe(baseline_enc, x_tr, y_tr, x_te, y_te):.3f} | chance 0.333")
print(f"done in {time.time() - t0:.1f}s")
