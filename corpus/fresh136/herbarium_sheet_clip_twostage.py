# Herbarium digitisation: learn a shared embedding that matches each pressed-sheet
# leaf-outline measurement vector (24 elliptic-Fourier style descriptors) with the
# collector's field-notes vector (10 habitat / phenology readings) of the SAME
# specimen. Symmetric InfoNCE (CLIP-style) between two small encoders.
#   stage "align"  : both encoders train, batch 256, lr warms up from exactly 0.
#   stage "polish" : field-notes tower frozen, batch 1024 (harder: 4x more
#                    negatives, so the contrastive loss starts higher), cosine lr to 0.
# One JSON object per log line.
import json
import math
import sys

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

rng = np.random.default_rng(2024)
LATENT, N_TR, N_VA = 6, 6000, 512
Wa = rng.normal(0, 0.7, (LATENT, 24))
Wb = rng.normal(0, 0.8, (LATENT, 10))


def specimens(n):
    z = rng.normal(0, 1, (n, LATENT))
    sheet = np.tanh(z @ Wa) + rng.normal(0, 0.25, (n, 24))
    notes = np.sin(z @ Wb) + 0.3 * (z @ Wb) + rng.normal(0, 0.3, (n, 10))
    return mx.array(sheet.astype(np.float32)), mx.array(notes.astype(np.float32))


sheet_tr, notes_tr = specimens(N_TR)
sheet_va, notes_va = specimens(N_VA)


def tower(d_in):
    return nn.Sequential(nn.Linear(d_in, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 32))


class SheetNotesCLIP(nn.Module):
    def __init__(self):
        super().__init__()
        self.sheet_tower = tower(24)
        self.notes_tower = tower(10)
        self.logit_scale = mx.array(math.log(1 / 0.07))

    def embed(self, a, b):
        ea = self.sheet_tower(a)
        eb = self.notes_tower(b)
        ea = ea / mx.linalg.norm(ea, axis=-1, keepdims=True)
        eb = eb / mx.linalg.norm(eb, axis=-1, keepdims=True)
        return ea, eb

    def __call__(self, a, b):
        ea, eb = self.embed(a, b)
        return mx.exp(mx.clip(self.logit_scale, 0.0, math.log(100.0))) * (ea @ eb.T)


def clip_loss(model, a, b):
    logits = model(a, b)
    labels = mx.arange(logits.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, labels, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, labels, reduction="mean"))


def retrieval(model):
    sims = model(sheet_va, notes_va)
    ranks = (sims > mx.diag(sims)[:, None]).sum(axis=1)  # 0 = correct match ranked first
    r1 = (ranks == 0).astype(mx.float32).mean().item()
    mrr = (1.0 / (ranks + 1).astype(mx.float32)).mean().item()
    return r1, mrr


model = SheetNotesCLIP()
mx.eval(model.parameters())
loss_and_grad = nn.value_and_grad(model, clip_loss)


def emit(**kw):
    print(json.dumps(kw), flush=True)


emit(event="setup", specimens_train=N_TR, specimens_val=N_VA, r1_chance=round(1 / N_VA, 5),
     params=sum(v.size for _, v in tree_flatten(model.parameters())))

# audit: every tensor we intend to train must get a gradient
_, g0 = loss_and_grad(model, sheet_tr[:256], notes_tr[:256])
nz = sum(1 for _, g in tree_flatten(g0) if mx.abs(g).sum().item() > 0)
emit(event="grad_audit", nonzero=nz, total=len(tree_flatten(g0)))

stages = [
    dict(name="align", steps=300, batch=256,
         lr=optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 60), lambda s: mx.array(2e-3)], [60]),
         freeze_notes=False),
    dict(name="polish", steps=150, batch=1024,
         lr=optim.cosine_decay(6e-4, 150, end=0.0), freeze_notes=True),
]

for st in stages:
    if st["freeze_notes"]:
        model.notes_tower.freeze()
    opt = optim.AdamW(learning_rate=st["lr"], weight_decay=1e-4)
    notes_before = [mx.array(v) for _, v in tree_flatten(model.notes_tower.parameters())]
    r1, mrr = retrieval(model)
    emit(stage=st["name"], step=0, lr=round(float(st["lr"](mx.array(0))), 7), r1=round(r1, 4), mrr=round(mrr, 4))
    for step in range(1, st["steps"] + 1):
        idx = mx.array(rng.choice(N_TR, st["batch"], replace=False))
        loss, grads = loss_and_grad(model, sheet_tr[idx], notes_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 30 == 0:
            r1, mrr = retrieval(model)
            emit(stage=st["name"], step=step, lr=round(opt.learning_rate.item(), 7),
                 nce=round(loss.item(), 4), logn=round(math.log(st["batch"]), 3),
                 tau=round(1 / math.exp(min(model.logit_scale.item(), math.log(100.0))), 4),
                 r1=round(r1, 4), mrr=round(mrr, 4))
    drift = sum(mx.abs(a - b).sum().item() for a, b in
                zip(notes_before, [v for _, v in tree_flatten(model.notes_tower.parameters())]))
    emit(event="stage_end", stage=st["name"], notes_tower_l1_change=round(drift, 6))

r1, mrr = retrieval(model)
emit(event="final", r1=round(r1, 4), mrr=round(mrr, 4), r1_chance=round(1 / N_VA, 5))
sys.exit(0)
