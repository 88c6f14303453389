"""Stamp-catalogue captioner: a tiny vision-language model learns to caption
8x8 stamp scans as "<colour> <denomination>".

Stage "align": vision tower and language model frozen on purpose, only the
projector trains (LLaVA-style feature alignment).  The run then saves a
checkpoint, rebuilds a fresh model from it, and stage "tune" trains every
weight.  Each stage warms its learning rate up from exactly 0.  Every report is
a JSON line; accuracy is shown next to a blind baseline (images blanked).
"""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

PAD, BOS, EOS, IMG, SAY = 0, 1, 2, 3, 4
COLOUR0 = 5
N_COLOUR = 6
DENOM0 = COLOUR0 + N_COLOUR
N_DENOM = 8
VOCAB = DENOM0 + N_DENOM
PATCH = 4
N_PATCH = 4
SEQ = 1 + N_PATCH + 1 + 2 + 1

rng = np.random.default_rng(11)
PALETTE = rng.uniform(0.1, 0.9, size=(N_COLOUR, 3)).astype(np.float32)
NUMERALS = (rng.random((N_DENOM, PATCH, PATCH)) > 0.5).astype(np.float32)


def scan(colour, denom):
    img = np.empty((8, 8, 3), dtype=np.float32)
    img[:] = PALETTE[colour]
    img[4:, 4:, :] = NUMERALS[denom][:, :, None]
    img += 0.08 * rng.standard_normal(img.shape).astype(np.float32)
    return img


def batch(n):
    c = rng.integers(0, N_COLOUR, size=n)
    d = rng.integers(0, N_DENOM, size=n)
    imgs = np.stack([scan(ci, di) for ci, di in zip(c, d)])
    ids = np.zeros((n, SEQ), dtype=np.int32)
    ids[:, 0] = BOS
    ids[:, 1:1 + N_PATCH] = IMG
    ids[:, 1 + N_PATCH] = SAY
    ids[:, 2 + N_PATCH] = COLOUR0 + c
    ids[:, 3 + N_PATCH] = DENOM0 + d
    ids[:, 4 + N_PATCH] = EOS
    return mx.array(imgs), mx.array(ids)


class Captioner(nn.Module):
    def __init__(self, dim=48):
        super().__init__()
        self.vision_tower = nn.Linear(3 * PATCH * PATCH, dim)
        self.projector = nn.Linear(dim, dim)
        self.embed = nn.Embedding(VOCAB, dim)
        self.pos = nn.Embedding(SEQ, dim)
        self.attn = nn.MultiHeadAttention(dim, 4)
        self.ln = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.head = nn.Linear(dim, VOCAB)

    def __call__(self, imgs, ids):
        n = imgs.shape[0]
        p = imgs.reshape(n, 2, PATCH, 2, PATCH, 3).transpose(0, 1, 3, 2, 4, 5)
        p = p.reshape(n, N_PATCH, PATCH * PATCH * 3)
        vis = self.projector(nn.gelu(self.vision_tower(p)))
        txt = self.embed(ids)
        x = mx.concatenate([txt[:, :1], vis, txt[:, 1 + N_PATCH:]], axis=1)
        t = x.shape[1]
        x = x + self.pos(mx.arange(t))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(t)
        x = x + self.attn(x, x, x, mask)
        x = x + self.mlp(self.ln(x))
        return self.head(x)


def loss_fn(model, imgs, ids):
    logits = model(imgs, ids[:, :-1])[:, 1 + N_PATCH:]
    return nn.losses.cross_entropy(logits, ids[:, 2 + N_PATCH:], reduction="mean")


def accuracy(model, imgs, ids):
    logits = model(imgs, ids[:, :-1])[:, 1 + N_PATCH:1 + N_PATCH + 2]
    return mx.mean(mx.all(mx.argmax(logits, -1) == ids[:, 2 + N_PATCH:4 + N_PATCH], -1)).item()


def run_stage(model, name, steps, peak, val, t0):
    warm = 40
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, peak * 0.05)],
        [warm],
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    step_fn = nn.value_and_grad(model, loss_fn)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(json.dumps({"event": "stage", "stage": name, "trainable": n_train}))
    vi, vt = val
    blank = mx.zeros_like(vi)
    for s in range(1, steps + 1):
        imgs, ids = batch(32)
        lr = sched(opt.step).item()
        loss, grads = step_fn(model, imgs, ids)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if s == 1 or s % 60 == 0:
            print(json.dumps({
                "stage": name, "step": s, "lr": round(lr, 6), "loss": round(loss.item(), 4),
                "val_loss": round(loss_fn(model, vi, vt).item(), 4),
                "val_exact": round(accuracy(model, vi, vt), 3),
                "blind_exact": round(accuracy(model, blank, vt), 3),
                "t": round(time.time() - t0, 1),
            }))


def main():
    mx.random.seed(3)
    t0 = time.time()
    val = batch(256)
    model = Captioner()
    print(json.dumps({"event": "start", "chance_exact": round(1 / (N_COLOUR * N_DENOM), 4),
                      "val_loss_init": round(loss_fn(model, *val).item(), 4)}))

    model.freeze()
    model.projector.unfreeze()
    frozen_before = {k: np.array(v) for k, v in tree_flatten(model.embed.parameters())}
    run_stage(model, "align", 240, 3e-3, val, t0)
    drift = max(float(np.abs(np.array(v) - frozen_before[k]).max())
                for k, v in tree_flatten(model.embed.parameters()))
    print(json.dumps({"event": "frozen_check", "embed_max_drift": drift}))

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "align.safetensors")
        model.save_weights(path)
        ref = loss_fn(model, *val).item()
        model = Captioner()
        model.load_weights(path)
        print(json.dumps({"event": "reloaded", "val_loss_before": round(ref, 4),
                          "val_loss_after": round(loss_fn(model, *val).item(), 4)}))

    run_stage(model, "tune", 360, 2e-3, val, t0)
    print(json.dumps({"event": "done", "val_exact": round(accuracy(model, *val), 3),
                      "blind_exact": round(accuracy(model, mx.zeros_like(val[0]), val[1]), 3),
                      "seconds": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main()
