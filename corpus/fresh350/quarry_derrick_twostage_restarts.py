"""Quarry derrick crane monitoring: find 4 rig points (mast foot, mast head,
boom tip, hook block) on small synthetic overhead depth frames.

Two-stage heatmap model with intermediate supervision: stage 1 predicts one
Gaussian heatmap per rig point from the frame, stage 2 refines it from the frame
features plus the stage-1 maps; both stages get a pixel-wise MSE against the
same target maps. SGD with Nesterov momentum on cosine cycles with warm
restarts (the lr jumps back up at each restart). The log stays quiet inside a
cycle and reports once per cycle.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 11
IMG = 20
HM = 10
K = 4
SIGMA = 0.9
BATCH = 64
CYCLE = 250
CYCLES = 3
LR_MAX = 0.05
LR_MIN = 5e-4
HEAT_WEIGHT = 100.0  # per-pixel MSE is tiny; weight it as pose codebases do

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)
ys, xs = np.mgrid[0:IMG, 0:IMG].astype(np.float32)
hy, hx = np.mgrid[0:HM, 0:HM].astype(np.float32)


def make_frames(n):
    foot = np.stack([rng.uniform(5, 15, n), rng.uniform(5, 15, n)], 1)
    a1 = rng.uniform(0, 2 * math.pi, n)
    head = foot + np.stack([np.cos(a1), np.sin(a1)], 1) * rng.uniform(2.0, 3.0, n)[:, None]
    a2 = a1 + rng.uniform(-1.2, 1.2, n)
    tip = head + np.stack([np.cos(a2), np.sin(a2)], 1) * rng.uniform(3.5, 5.5, n)[:, None]
    hook = tip + rng.normal(0, 0.6, (n, 2))
    pts = np.clip(np.stack([foot, head, tip, hook], 1), 0.5, IMG - 1.5).astype(np.float32)
    t = np.linspace(0, 1, 9, dtype=np.float32)
    segs = [(0, 1), (1, 2), (2, 3)]
    imgs = np.zeros((n, IMG, IMG), np.float32)
    for a in range(0, n, 256):
        p = pts[a:a + 256]
        img = np.zeros((len(p), IMG, IMG), np.float32)
        for (i, j), h in zip(segs, (0.9, 0.6, 0.3)):
            s = p[:, i, None, :] + t[None, :, None] * (p[:, j, None, :] - p[:, i, None, :])
            d2 = (xs[None, None] - s[..., 0, None, None]) ** 2 + (ys[None, None] - s[..., 1, None, None]) ** 2
            img = np.maximum(img, (h * np.exp(-d2 / 0.8)).max(axis=1))
        d2 = (xs[None] - p[:, 3, 0, None, None]) ** 2 + (ys[None] - p[:, 3, 1, None, None]) ** 2
        img = np.maximum(img, 0.5 * np.exp(-d2 / 1.5))
        imgs[a:a + 256] = img
    imgs += 0.2 * rng.uniform(size=(n, 1, 1)).astype(np.float32)  # ground level varies
    imgs += rng.normal(0, 0.06, imgs.shape).astype(np.float32)
    hp = pts * (HM - 1) / (IMG - 1)  # rig points in heatmap pixels
    d2 = (hx[None, None] - hp[..., 0, None, None]) ** 2 + (hy[None, None] - hp[..., 1, None, None]) ** 2
    maps = np.exp(-d2 / (2 * SIGMA ** 2)).astype(np.float32)  # (n, K, HM, HM)
    return imgs.reshape(n, -1), maps.reshape(n, K, -1), hp.astype(np.float32)


class TwoStage(nn.Module):
    def __init__(self, hidden=160):
        super().__init__()
        self.feat = nn.Linear(IMG * IMG, hidden)
        self.s1 = nn.Linear(hidden, K * HM * HM)
        self.fuse = nn.Linear(hidden + K * HM * HM, hidden)
        self.s2 = nn.Linear(hidden, K * HM * HM)

    def __call__(self, x):
        B = x.shape[0]
        f = nn.gelu(self.feat(x))
        m1 = self.s1(f)
        g = nn.gelu(self.fuse(mx.concatenate([f, m1], axis=-1))) + f
        m2 = self.s2(g)
        return m1.reshape(B, K, -1), m2.reshape(B, K, -1)


def loss_fn(model, x, maps):
    m1, m2 = model(x)
    l1 = nn.losses.mse_loss(m1, maps)
    l2 = nn.losses.mse_loss(m2, maps)
    return HEAT_WEIGHT * (l1 + l2), (l1, l2)


def decode(maps):
    idx = np.argmax(maps, axis=-1)
    return np.stack([idx % HM, idx // HM], -1).astype(np.float32)


def pck(pred, hp, thr=1.0):
    return float((np.linalg.norm(pred - hp, axis=-1) <= thr).mean())


Xtr, Mtr, Ptr = make_frames(6000)
Xva, Mva, Pva = make_frames(800)
centre = np.full_like(Pva, (HM - 1) / 2.0)
zero_map_mse = float((Mva ** 2).mean())
print(f"frames train {len(Xtr)} valid {len(Xva)}; all-zero heatmap MSE {zero_map_mse:.5f}")
print(f"baseline (frame centre) PCK@1px {pck(centre, Pva):.3f}  mean error {np.linalg.norm(centre - Pva, axis=-1).mean():.2f} hm-px")

model = TwoStage()
mx.eval(model.parameters())
schedule = optim.join_schedules(
    [optim.cosine_decay(LR_MAX, CYCLE, LR_MIN) for _ in range(CYCLES)],
    [CYCLE * (c + 1) for c in range(CYCLES - 1)],
)
opt = optim.SGD(learning_rate=schedule, momentum=0.9, nesterov=True)
step_fn = nn.value_and_grad(model, loss_fn)
Xva_m, Mva_m = mx.array(Xva), mx.array(Mva)

t0 = time.time()
step = 0
for cycle in range(CYCLES):
    lr_start = float(schedule(mx.array(step)))
    run1 = run2 = 0.0
    for _ in range(CYCLE):
        idx = rng.integers(0, len(Xtr), BATCH)
        (loss, (l1, l2)), grads = step_fn(model, mx.array(Xtr[idx]), mx.array(Mtr[idx]))
        grads, _ = optim.clip_grad_norm(grads, 5.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, l1, l2)
        run1 += float(l1)
        run2 += float(l2)
        step += 1
    vloss, (v1, v2) = loss_fn(model, Xva_m, Mva_m)
    m1, m2 = model(Xva_m)
    p1, p2 = decode(np.array(m1)), decode(np.array(m2))
    err = np.linalg.norm(p2 - Pva, axis=-1).mean()
    print(
        f"cycle {cycle + 1}/{CYCLES} steps {step:4d} lr {lr_start:.3f}->{float(opt.learning_rate):.4f} "
        f"train mse s1 {run1 / CYCLE:.5f} s2 {run2 / CYCLE:.5f} | valid mse s1 {float(v1):.5f} s2 {float(v2):.5f} "
        f"PCK@1px s1 {pck(p1, Pva):.3f} s2 {pck(p2, Pva):.3f} err {err:.2f} hm-px"
    )

names = ["mast foot", "mast head", "boom tip", "hook block"]
per = np.linalg.norm(p2 - Pva, axis=-1).mean(0)
print("per-point error (hm-px): " + "  ".join(f"{n} {e:.2f}" for n, e in zip(names, per)))
print(f"final valid PCK@1px {pck(p2, Pva):.3f} vs centre baseline {pck(centre, Pva):.3f}; done in {time.time() - t0:.1f}s")
