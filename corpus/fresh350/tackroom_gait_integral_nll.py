"""Equine gait clinic: locate 5 foreleg landmarks (elbow, knee, fetlock, pastern,
toe) on small synthetic side-view frames. A fence rail crosses some frames; the
landmarks it hides are marked invisible and left out of the loss and of PCK.

Integral (soft-argmax) regression with a learned per-landmark Laplace scale, so
the loss is a negative log-likelihood that goes below zero once the model is
confident. lr warms up linearly from 0, then cosine decay. Halfway through the
run the model and optimizer are checkpointed, rebuilt from disk and resumed.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 7
IMG = 24
HM = 12
K = 5
BATCH = 64
STEPS = 400
WARMUP = 50
PEAK_LR = 3e-3

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def make_frames(n):
    """Render a 5-joint leg chain as thick strokes plus joint blobs."""
    ys, xs = np.mgrid[0:IMG, 0:IMG].astype(np.float32)
    seg_len = np.array([4.5, 4.0, 3.0, 2.5], np.float32)
    x0 = rng.uniform(7, 17, n)
    y0 = rng.uniform(2.5, 5.5, n)
    ang = math.pi / 2 + rng.normal(0, 0.35, n)
    pts = [np.stack([x0, y0], 1)]
    for s in range(4):
        ang = ang + rng.normal(0, 0.3, n)
        L = seg_len[s] * rng.uniform(0.85, 1.15, n)
        pts.append(pts[-1] + np.stack([L * np.cos(ang), L * np.sin(ang)], 1))
    pts = np.stack(pts, 1).astype(np.float32)  # (n, K, 2) pixel coords
    t = np.linspace(0, 1, 10, dtype=np.float32)
    stroke = pts[:, :-1, None, :] + t[None, None, :, None] * (pts[:, 1:, None, :] - pts[:, :-1, None, :])
    stroke = stroke.reshape(n, -1, 2)
    imgs = np.zeros((n, IMG, IMG), np.float32)
    for a in range(0, n, 256):
        sp = stroke[a:a + 256]
        d2 = (xs[None, None] - sp[..., 0, None, None]) ** 2 + (ys[None, None] - sp[..., 1, None, None]) ** 2
        img = (0.6 * np.exp(-d2 / 1.2)).max(axis=1)
        jp = pts[a:a + 256]
        d2 = (xs[None, None] - jp[..., 0, None, None]) ** 2 + (ys[None, None] - jp[..., 1, None, None]) ** 2
        w = (0.8 + 0.04 * np.arange(K, dtype=np.float32))[None, :, None, None]
        imgs[a:a + 256] = np.maximum(img, (w * np.exp(-d2 / 0.7)).max(axis=1))
    vis = np.ones((n, K), np.float32)
    rail = rng.uniform(size=n) < 0.35  # a fence rail hides a horizontal band
    r0 = rng.integers(6, 18, n)
    for i in np.nonzero(rail)[0]:
        imgs[i, r0[i]:r0[i] + 3, :] = 0.35
        hidden = (pts[i, :, 1] >= r0[i] - 0.5) & (pts[i, :, 1] < r0[i] + 3.5)
        vis[i, hidden] = 0.0
    imgs += rng.normal(0, 0.08, imgs.shape).astype(np.float32)
    kps = pts / (IMG - 1) * 2.0 - 1.0
    vis[(np.abs(kps) > 1.0).any(axis=2)] = 0.0
    return imgs[..., None], np.clip(kps, -1, 1).astype(np.float32), vis


class LegNet(nn.Module):
    def __init__(self, hidden=192):
        super().__init__()
        self.inp = nn.Linear(IMG * IMG, hidden)
        self.mid = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, K * HM * HM)
        self.log_b = mx.zeros((K,))  # per-landmark Laplace log-scale
        g = np.linspace(-1, 1, HM).astype(np.float32)
        gx, gy = np.meshgrid(g, g)
        self._grid = mx.array(np.stack([gx.ravel(), gy.ravel()], 1))  # (HM*HM, 2)

    def __call__(self, x):
        B = x.shape[0]
        h = nn.relu(self.inp(x.reshape(B, -1)))
        h = nn.relu(self.mid(h)) + h
        logits = self.head(h).reshape(B, K, HM * HM)
        prob = mx.softmax(logits, axis=-1)  # one heatmap per landmark
        return prob @ self._grid  # soft-argmax -> (B, K, 2)


def laplace_nll(model, x, y, v):
    pred = model(x)
    b = mx.exp(model.log_b)[None, :, None]
    nll = mx.abs(pred - y) / b + mx.log(2 * b)  # (B, K, 2)
    nll = nll.sum(axis=-1) * v
    return nll.sum() / mx.maximum(v.sum(), 1.0) / 2.0


def pck(pred, y, v, thr=0.1):
    d = np.linalg.norm(pred - y, axis=-1) / 2.0  # fraction of frame width
    return float(((d < thr) * v).sum() / max(v.sum(), 1.0))


Xtr, Ytr, Vtr = make_frames(4096)
Xva, Yva, Vva = make_frames(512)
print(f"frames: train {len(Xtr)}  valid {len(Xva)}  hidden landmarks {1 - Vtr.mean():.3f} of train")

mean_pose = (Ytr * Vtr[..., None]).sum(0) / Vtr.sum(0)[:, None]
base_pck = pck(np.broadcast_to(mean_pose, Yva.shape), Yva, Vva)
print(f"baseline (mean pose) valid PCK@0.1 = {base_pck:.3f}")

Xva_m, Yva_m, Vva_m = mx.array(Xva), mx.array(Yva), mx.array(Vva)


def evaluate(model):
    pred = np.array(model(Xva_m))
    return float(laplace_nll(model, Xva_m, Yva_m, Vva_m)), pck(pred, Yva, Vva)


schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK_LR, WARMUP), optim.cosine_decay(PEAK_LR, STEPS - WARMUP, 1e-5)],
    [WARMUP],
)


def build():
    m = LegNet()
    o = optim.AdamW(learning_rate=schedule, weight_decay=1e-4)
    return m, o


model, opt = build()
mx.eval(model.parameters())
n_params = sum(p.size for _, p in tree_flatten(model.trainable_parameters()))
print(f"LegNet trainable parameters: {n_params}")

ckpt_dir = tempfile.mkdtemp("_gait_ckpt")
t0 = time.time()
step = 0
while step < STEPS:
    if step == STEPS // 2:
        model.save_weights(os.path.join(ckpt_dir, "model.safetensors"))
        state = dict(tree_flatten(opt.state))
        mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), state)
        print(f"step {step:4d} checkpoint written, rebuilding from disk")
        model, opt = build()
        model.load_weights(os.path.join(ckpt_dir, "model.safetensors"))
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
        mx.eval(model.parameters(), opt.state)
        vl, vp = evaluate(model)
        print(f"step {step:4d} resumed  opt.step={int(opt.state['step'])}  valid nll {vl:+.4f}  PCK@0.1 {vp:.3f}")
        loss_and_grad = None
    if step == 0 or step == STEPS // 2:
        loss_and_grad = nn.value_and_grad(model, laplace_nll)
    idx = rng.integers(0, len(Xtr), BATCH)
    loss, grads = loss_and_grad(model, mx.array(Xtr[idx]), mx.array(Ytr[idx]), mx.array(Vtr[idx]))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    step += 1
    if step % 50 == 0 or step == 1:
        lr = float(opt.learning_rate)
        msg = f"step {step:4d} lr {lr:.2e} train nll {float(loss):+.4f}"
        if step % 100 == 0:
            vl, vp = evaluate(model)
            b = np.exp(np.array(model.log_b))
            msg += f" | valid nll {vl:+.4f} PCK@0.1 {vp:.3f} (baseline {base_pck:.3f}) scale {b.mean():.3f}"
        print(msg)

vl, vp = evaluate(model)
pred = np.array(model(Xva_m))
err_px = np.linalg.norm(pred - Yva, axis=-1) * (IMG - 1) / 2.0
mean_err = float((err_px * Vva).sum() / Vva.sum())
print(f"final valid nll {vl:+.4f}  PCK@0.1 {vp:.3f} vs baseline {base_pck:.3f}  mean error {mean_err:.2f} px")
names = ["elbow", "knee", "fetlock", "pastern", "toe"]
per = [float((err_px[:, j] * Vva[:, j]).sum() / Vva[:, j].sum()) for j in range(K)]
print("per-landmark error px: " + "  ".join(f"{n} {e:.2f}" for n, e in zip(names, per)))
print(f"done in {time.time() - t0:.1f}s")
