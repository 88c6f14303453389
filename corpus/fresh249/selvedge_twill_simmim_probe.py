"""Fabric weave recogniser for a textile mill's inspection camera.

Stage 1: masked-patch pretraining of a tiny ViT on unlabelled 16x16 swatches
(predict the pixels of hidden patches; the sensor noise sets a floor).
Stage 2: fine-tune on labelled swatches with the patch projection frozen,
linear warmup from 0 then cosine decay, and a mid-run checkpoint + resume.
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
IMG, P = 16, 4
NP = (IMG // P) ** 2
DIM, HEADS = 32, 4
NOISE = 0.3
CLASSES = ["plain", "rib", "basket", "twill"]

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def swatch(kind, r):
    y, x = np.mgrid[0:IMG, 0:IMG].astype(np.float32)
    period = r.choice([2, 4])
    ph = r.integers(0, 8)
    if kind == 0:
        base = np.cos(np.pi * (y + ph) / (period / 2))
    elif kind == 1:
        base = np.cos(np.pi * (x + ph) / (period / 2))
    elif kind == 2:
        base = np.sign(np.cos(np.pi * (x + ph) / period)) * np.sign(np.cos(np.pi * (y + ph) / period))
    else:
        base = np.cos(np.pi * (x + y + ph) / (period / 2))
    img = 0.8 * base * r.uniform(0.7, 1.2) + r.normal(0, NOISE, (IMG, IMG))
    return img.astype(np.float32)


def make(n, r):
    ys = r.integers(0, 4, n)
    xs = np.stack([swatch(k, r) for k in ys])[..., None]
    return xs, ys.astype(np.int32)


def patchify(x):
    b = x.shape[0]
    x = x.reshape(b, IMG // P, P, IMG // P, P)
    return x.transpose(0, 1, 3, 2, 4).reshape(b, NP, P * P)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1 = nn.LayerNorm(DIM)
        self.attn = nn.MultiHeadAttention(DIM, HEADS)
        self.n2 = nn.LayerNorm(DIM)
        self.mlp = nn.Sequential(nn.Linear(DIM, 2 * DIM), nn.GELU(), nn.Linear(2 * DIM, DIM))

    def __call__(self, x):
        h = self.n1(x)
        x = x + self.attn(h, h, h)
        return x + self.mlp(self.n2(x))


class WeaveViT(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch_embed = nn.Linear(P * P, DIM)
        self.cls_token = mx.zeros((1, 1, DIM))
        self.mask_token = mx.zeros((1, 1, DIM))
        self.pos_embed = 0.02 * mx.random.normal((1, NP + 1, DIM))
        self.blocks = [Block(), Block()]
        self.norm = nn.LayerNorm(DIM)
        self.pixel_head = nn.Linear(DIM, P * P)
        self.cls_head = nn.Linear(DIM, len(CLASSES))

    def encode(self, patches, mask=None):
        t = self.patch_embed(patches)
        if mask is not None:
            m = mask[..., None]
            t = t * (1 - m) + self.mask_token * m
        cls = mx.broadcast_to(self.cls_token, (t.shape[0], 1, DIM))
        t = mx.concatenate([cls, t], axis=1) + self.pos_embed
        for b in self.blocks:
            t = b(t)
        return self.norm(t)

    def reconstruct(self, patches, mask):
        return self.pixel_head(self.encode(patches, mask)[:, 1:])

    def __call__(self, patches):
        return self.cls_head(self.encode(patches)[:, 0])


def recon_loss(model, patches, mask):
    pred = model.reconstruct(patches, mask)
    err = ((pred - patches) ** 2).mean(axis=-1)
    return (err * mask).sum() / mask.sum()


def cls_loss(model, patches, y):
    return nn.losses.cross_entropy(model(patches), y, reduction="mean")


def accuracy(model, patches, y):
    return float((mx.argmax(model(patches), axis=1) == y).mean())


t0 = time.time()
xu, _ = make(2000, rng)
xtr, ytr = make(720, rng)
xva, yva = make(400, rng)
PU, PTR, PVA = (patchify(mx.array(a)) for a in (xu, xtr, xva))
YTR, YVA = mx.array(ytr), mx.array(yva)
print(f"data: {len(xu)} unlabelled, {len(xtr)} train, {len(xva)} val swatches; classes={CLASSES}")

# reference points printed next to the metrics
flat_tr, flat_va = xtr.reshape(len(xtr), -1), xva.reshape(len(xva), -1)
cent = np.stack([flat_tr[ytr == k].mean(0) for k in range(4)])
cent_acc = (np.argmin(((flat_va[:, None] - cent[None]) ** 2).sum(-1), 1) == yva).mean()
print(f"baselines: chance acc=0.250  nearest-centroid(pixels) acc={cent_acc:.3f}  "
      f"recon noise floor ~{NOISE**2:.3f}  predict-zero recon mse={float((PU**2).mean()):.3f}")

model = WeaveViT()
mx.eval(model.parameters())

# ---------------- stage 1: masked-patch pretraining ----------------
opt1 = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
step1 = nn.value_and_grad(model, recon_loss)
B = 32
print("stage 1: masked-patch pretraining (50% of patches hidden)")
for it in range(1, 161):
    idx = mx.array(rng.integers(0, PU.shape[0], B))
    mask = (mx.random.uniform(shape=(B, NP)) < 0.5).astype(mx.float32)
    loss, g = step1(model, PU[idx], mask)
    opt1.update(model, g)
    mx.eval(model.parameters(), opt1.state)
    if it % 40 == 0:
        print(f"  pre step {it:3d}  masked-patch mse {loss.item():.4f}")

# ---------------- stage 2: supervised fine-tune ----------------
model.patch_embed.freeze()
pe_before = np.array(model.patch_embed.weight)
EPOCHS, B2 = 6, 48
steps_per_epoch = PTR.shape[0] // B2
total = EPOCHS * steps_per_epoch
warm = 15
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 1e-3, warm), optim.cosine_decay(1e-3, total - warm, 1e-5)], [warm]
)
opt2 = optim.AdamW(learning_rate=sched, weight_decay=0.01)
step2 = nn.value_and_grad(model, cls_loss)
ckpt_dir = tempfile.mkdtemp(suffix="_weave_ckpt")
print(f"stage 2: fine-tune {EPOCHS} epochs x {steps_per_epoch} steps, warmup {warm} from lr=0, patch_embed frozen")
print(f"  before fine-tune: val acc {accuracy(model, PVA, YVA):.3f}")


def run_epochs(model, opt, start_epoch, end_epoch, order_rng):
    stepf = nn.value_and_grad(model, cls_loss)
    for ep in range(start_epoch, end_epoch):
        perm = order_rng.permutation(PTR.shape[0])
        tot = 0.0
        for s in range(steps_per_epoch):
            idx = mx.array(perm[s * B2:(s + 1) * B2])
            loss, g = stepf(model, PTR[idx], YTR[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state)
            tot += loss.item()
            if ep == start_epoch == 0 and s < 2:
                print(f"    step {s} lr={float(opt.learning_rate):.2e} loss {loss.item():.4f}")
        print(f"  epoch {ep + 1}  train ce {tot / steps_per_epoch:.4f}  val acc {accuracy(model, PVA, YVA):.3f}"
              f"  lr {float(opt.learning_rate):.2e}")


order_rng = np.random.default_rng(SEED + 1)
run_epochs(model, opt2, 0, 3, order_rng)

# checkpoint, then resume in a fresh model/optimizer as a restarted job would
wpath = os.path.join(ckpt_dir, "weights.safetensors")
opath = os.path.join(ckpt_dir, "opt.safetensors")
model.save_weights(wpath)
mx.save_safetensors(opath, dict(tree_flatten(opt2.state)))
print(f"  checkpoint written after epoch 3 (opt step {int(opt2.state['step'])})")
del model, opt2

model = WeaveViT()
model.load_weights(wpath)
model.patch_embed.freeze()
opt2 = optim.AdamW(learning_rate=sched, weight_decay=0.01)
opt2.state = tree_unflatten(list(mx.load(opath).items()))
mx.eval(model.parameters())
print(f"  resumed: opt step {int(opt2.state['step'])}, val acc {accuracy(model, PVA, YVA):.3f}")
run_epochs(model, opt2, 3, EPOCHS, order_rng)

pe_delta = float(np.abs(np.array(model.patch_embed.weight) - pe_before).max())
final = accuracy(model, PVA, YVA)
print(f"patch_embed max |change| during fine-tune: {pe_delta:.2e} (frozen)")
print(f"final val acc {final:.3f} (chance 0.250, centroid {cent_acc:.3f})  time {time.time() - t0:.1f}s")
