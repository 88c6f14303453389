"""Perfumery: classify a fragrance material as top / heart / base note.

Mixed precision: float32 master weights, forward and backward in bfloat16,
gradients cast back to float32 for the AdamW update. Loss reported in bits.
"""
import math
import time
from pprint import pprint

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

NOTES = ["top", "heart", "base"]
LN2 = math.log(2.0)


def materials(n, rng):
    # made-up descriptors: molecular weight, log vapour pressure, logP,
    # H-bond donors, ring count, odour threshold (log ng/L), ester flag, musk flag
    mw = rng.uniform(100, 320, n)
    ring = rng.integers(0, 4, n)
    hbd = rng.integers(0, 3, n)
    logp = 1.0 + 0.012 * (mw - 100) + rng.normal(0, 0.7, n)
    logvp = 2.5 - 0.022 * (mw - 100) - 0.45 * hbd - 0.2 * ring + rng.normal(0, 0.5, n)
    thr = rng.normal(0, 1.2, n)
    ester = (rng.random(n) < 0.3).astype(float)
    musk = ((mw > 230) & (rng.random(n) < 0.4)).astype(float)
    X = np.stack([(mw - 210) / 60, logvp, logp, hbd, ring, thr, ester, musk], 1)
    # tenacity on a blotter (hours) decides the note tier
    tenacity = -1.1 * logvp + 0.25 * logp + 0.9 * musk - 0.3 * ester + rng.normal(0, 0.45, n)
    y = np.digitize(tenacity, [-0.9, 1.2]).astype(np.int32)
    return X.astype(np.float32), y


rng = np.random.default_rng(2024)
Xtr, ytr = materials(9000, rng)
Xte, yte = materials(1500, rng)
mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd


class NoteNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 96)
        self.l2 = nn.Linear(96, 96)
        self.l3 = nn.Linear(96, 3)

    def __call__(self, x):
        return self.l3(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


mx.random.seed(11)
model = NoteNet()             # master copy, float32
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)


WORK = NoteNet()  # the bf16 working copy, built once: a NoteNet() per call chains mx.random.state


def bf16_loss(params_bf16, x, y):
    work = WORK
    work.update(params_bf16)
    logits = work(x.astype(mx.bfloat16))
    # softmax / CE in float32 for stability, as most AMP recipes do
    return nn.losses.cross_entropy(logits.astype(mx.float32), y, reduction="mean")


grad_fn = mx.value_and_grad(bf16_loss)


def step(x, y):
    p16 = tree_map(lambda p: p.astype(mx.bfloat16), model.trainable_parameters())
    loss, g16 = grad_fn(p16, x, y)
    g32 = tree_map(lambda g: g.astype(mx.float32), g16)
    opt.update(model, g32)
    return loss, g32


def test_bits():
    logits = model(mx.array(Xte))
    ce = nn.losses.cross_entropy(logits, mx.array(yte), reduction="mean")
    acc = mx.mean(mx.argmax(logits, 1) == mx.array(yte))
    return ce.item() / LN2, acc.item()


print("perfume note classifier | train", len(ytr), "test", len(yte),
      "| class shares", np.round(np.bincount(ytr) / len(ytr), 3).tolist())
prior = np.bincount(ytr) / len(ytr)
print("entropy of the class prior: %.4f bits/material (uniform would be %.4f)"
      % (float(-(prior * np.log2(prior)).sum()), math.log2(3)))

BATCH, EPOCHS = 96, 10
t0 = time.time()
history = []
for ep in range(1, EPOCHS + 1):
    perm = np.random.default_rng(ep).permutation(len(ytr))
    tot, n = 0.0, 0
    for b in range(len(ytr) // BATCH):
        idx = perm[b * BATCH:(b + 1) * BATCH]
        loss, g = step(mx.array(Xtr[idx]), mx.array(ytr[idx]))
        mx.eval(model.parameters(), opt.state, loss)
        if ep == 1 and b == 0:
            leaves = tree_flatten(g)
            zero = [k for k, v in leaves if not mx.any(v != 0).item()]
            dtypes = {str(v.dtype) for _, v in tree_flatten(model.parameters())}
            print(f"first step: {len(leaves)} gradient leaves, zero ones: {zero or 'none'};"
                  f" master weights dtype {dtypes}")
        tot += loss.item()
        n += 1
    bits, acc = test_bits()
    rec = {"epoch": ep, "train_bits_per_material": round(tot / n / LN2, 4),
           "test_bits_per_material": round(bits, 4),
           "test_accuracy_pct": round(100 * acc, 2),
           "elapsed_s": round(time.time() - t0, 2)}
    history.append(rec)
    if ep in (1, 2, 5, EPOCHS):
        pprint(rec, sort_dicts=False, width=120)

pred = np.array(mx.argmax(model(mx.array(Xte)), 1))
print("per-note test accuracy:",
      {n: f"{100 * float((pred[yte == i] == i).mean()):.1f}%" for i, n in enumerate(NOTES)})
print("best epoch by test bits:", min(history, key=lambda r: r["test_bits_per_material"])["epoch"])
