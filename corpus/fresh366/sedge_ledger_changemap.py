"""Bi-temporal land-cover change mapping on synthetic 4-band (B, G, R, NIR) tiles.

Two acquisitions of the same 16x16 tile, a few months apart. Between the dates the
scene gets a different sun/haze (global gain and offset per band) and some
vegetated patches are cleared (NIR falls, red rises). A siamese conv encoder with
shared weights sees both dates; the head maps |f1 - f2| and f1 * f2 to a per-pixel
change logit. Training is resumed once from a checkpoint, as a real job would.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(366)
mx.random.seed(366)
H = W = 16
BANDS = 4


def blobs(n, max_blobs):
    m = np.zeros((n, H, W), np.float32)
    yy, xx = np.mgrid[0:H, 0:W]
    for i in range(n):
        for _ in range(rng.integers(0, max_blobs + 1)):
            cy, cx = rng.uniform(0, H, 2)
            ry, rx = rng.uniform(1.5, 4.0, 2)
            m[i][((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1.0] = 1.0
    return m


def make_pairs(n):
    veg = blobs(n, 5)                      # vegetated fraction at date 1
    cleared = blobs(n, 2) * veg            # change: vegetation removed
    # reflectance of bare soil vs vegetation, per band (B, G, R, NIR)
    soil = np.array([0.10, 0.14, 0.20, 0.26], np.float32)
    plant = np.array([0.04, 0.09, 0.05, 0.45], np.float32)

    def render(v):
        r = v[..., None] * plant + (1 - v[..., None]) * soil
        return r + rng.normal(0, 0.02, r.shape).astype(np.float32)

    d1 = render(veg)
    d2 = render(veg - cleared)
    # date-2 illumination gain and haze offset: nuisance change everywhere
    gain = rng.uniform(0.75, 1.3, (n, 1, 1, BANDS)).astype(np.float32)
    haze = rng.uniform(0.0, 0.06, (n, 1, 1, BANDS)).astype(np.float32) * np.array([1.0, 0.7, 0.4, 0.1], np.float32)
    d2 = d2 * gain + haze
    return d1, d2, cleared


tr1, tr2, trm = make_pairs(320)
va1, va2, vam = make_pairs(128)
mu = np.concatenate([tr1, tr2]).mean(axis=(0, 1, 2))
sd = np.concatenate([tr1, tr2]).std(axis=(0, 1, 2))
norm = lambda a: mx.array((a - mu) / sd)
tr1, tr2, va1, va2 = map(norm, (tr1, tr2, va1, va2))
trm, vam = mx.array(trm), mx.array(vam)
pos_frac = float(trm.mean())
print(f"tiles train {tr1.shape[0]} val {va1.shape[0]}, changed pixels {100 * pos_frac:.1f}%")


class Siamese(nn.Module):
    def __init__(self, width=12):
        super().__init__()
        self.enc1 = nn.Conv2d(BANDS, width, 3, padding=1)
        self.enc2 = nn.Conv2d(width, width, 3, padding=1)
        self.fuse = nn.Conv2d(2 * width, width, 3, padding=1)
        self.head = nn.Conv2d(width, 1, 1)

    def encode(self, x):
        return nn.gelu(self.enc2(nn.gelu(self.enc1(x))))

    def __call__(self, a, b):
        fa, fb = self.encode(a), self.encode(b)
        z = mx.concatenate([mx.abs(fa - fb), fa * fb], axis=-1)
        return self.head(nn.gelu(self.fuse(z)))[..., 0]


POS_W = (1 - pos_frac) / pos_frac


def loss_fn(model, a, b, m):
    logit = model(a, b)
    bce = nn.losses.binary_cross_entropy(logit, m, reduction="none")
    bce = (bce * (1 + (POS_W - 1) * m)).mean()
    p = mx.sigmoid(logit)
    dice = 1 - (2 * (p * m).sum() + 1) / (p.sum() + m.sum() + 1)
    return bce + dice


def scores(pred, m):
    tp = float((pred * m).sum()); fp = float((pred * (1 - m)).sum()); fn = float(((1 - pred) * m).sum())
    f1 = 2 * tp / max(2 * tp + fp + fn, 1.0)
    iou = tp / max(tp + fp + fn, 1.0)
    return f1, iou


BATCH, EPOCHS, WARM = 32, 10, 20
steps_per_epoch = tr1.shape[0] // BATCH
total = EPOCHS * steps_per_epoch
PEAK = 0.05


def make_opt():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, total - WARM, 1e-3)], [WARM]
    )
    return optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)


# baselines on val: "nothing changed", and a naive NIR-drop threshold on normalised bands
print(f"baseline no-change        val F1 0.000 IoU 0.000")
nir_drop = (va1[..., 3] - va2[..., 3]) > 1.0
f1b, ioub = scores(nir_drop.astype(mx.float32), vam)
print(f"baseline NIR-drop > 1 sd  val F1 {f1b:.3f} IoU {ioub:.3f}")

model = Siamese()
opt = make_opt()
mx.eval(model.parameters())
step_fn = nn.value_and_grad(model, loss_fn)
ckpt_dir = tempfile.mkdtemp()
t0 = time.time()
step = 0
for epoch in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(tr1.shape[0]))
    run = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * BATCH:(i + 1) * BATCH]
        loss, g = step_fn(model, tr1[idx], tr2[idx], trm[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item(); step += 1
    pred = (model(va1, va2) > 0).astype(mx.float32)
    f1, iou = scores(pred, vam)
    lr = opt.learning_rate.item()
    print(f"epoch {epoch:2d} step {step:3d} lr {lr:.4f} train loss {run / steps_per_epoch:.4f} val F1 {f1:.3f} IoU {iou:.3f}")
    if epoch == 4:
        # checkpoint, then resume into a fresh model and optimizer as a restarted job would
        model.save_weights(os.path.join(ckpt_dir, "w.safetensors"))
        mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
        model = Siamese()
        model.load_weights(os.path.join(ckpt_dir, "w.safetensors"))
        opt = make_opt()
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
        step_fn = nn.value_and_grad(model, loss_fn)
        print(f"resumed from checkpoint at step {int(opt.state['step'].item())}")

# test-time augmentation: average logits over 4 flips/rotations (quiet stretch)
acc = mx.zeros(vam.shape)
for k in range(4):
    a, b = mx.array(np.rot90(np.array(va1), k, axes=(1, 2)).copy()), mx.array(np.rot90(np.array(va2), k, axes=(1, 2)).copy())
    out = np.rot90(np.array(model(a, b)), -k, axes=(1, 2)).copy()
    acc = acc + mx.array(out)
f1t, iout = scores((acc > 0).astype(mx.float32), vam)
print(f"final val F1 {f1:.3f} IoU {iou:.3f} | with 4-way rotation TTA F1 {f1t:.3f} IoU {iout:.3f} | NIR-drop baseline F1 {f1b:.3f}")
print(f"done in {time.time() - t0:.1f}s")
