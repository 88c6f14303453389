"""Glacier borehole thermistor strings: thermal regime from a variable-length profile.

Each borehole string has 6-48 thermistors (depth fraction, temperature in C).
Regimes: cold (below zero, warming with depth), temperate (at the pressure melting
point below a thin winter-cold skin) and polythermal (cold upper part over a
temperate base at a random transition depth). 8% of survey labels are mislabelled.

Batches mix strings of different lengths; shorter ones are padded on the LEFT
(readings are stored bottom-aligned) and a key-padding mask keeps attention off
the pads. The run stops at epoch 5, writes a checkpoint, rebuilds model and
optimizer from disk and carries on. Learning rate follows warm restarts (SGDR),
so the training objective bumps up after each restart. The objective is
reported as mean log-likelihood per string (negative, higher is better).
"""
import json
import math
import os
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

MAXLEN, D, HEADS, CLASSES = 48, 32, 4, 3
LABEL_NOISE = 0.08
rng = np.random.default_rng(11)
mx.random.seed(11)


def make_strings(n):
    X = np.zeros((n, MAXLEN, 2), dtype=np.float32)
    pad = np.ones((n, MAXLEN), dtype=bool)
    y = rng.integers(0, CLASSES, size=n)
    for i in range(n):
        L = rng.integers(6, MAXLEN + 1)
        depth = np.sort(rng.uniform(0, 1, L))
        if y[i] == 0:  # cold
            t = -8 + 6 * depth + rng.normal(0, 0.8)
        elif y[i] == 1:  # temperate below a cold skin
            t = np.where(depth < 0.12, -3 * (0.12 - depth) / 0.12, -0.2 * depth)
        else:  # polythermal
            cts = rng.uniform(0.3, 0.8)
            t = np.where(depth < cts, -6 + 5 * depth / cts, -0.2 * depth)
        t = t + rng.normal(0, 0.6, L)
        X[i, MAXLEN - L:, 0] = depth
        X[i, MAXLEN - L:, 1] = t / 4.0
        pad[i, MAXLEN - L:] = False
    flip = rng.random(n) < LABEL_NOISE
    y_obs = y.copy()
    y_obs[flip] = (y[flip] + rng.integers(1, CLASSES, size=flip.sum())) % CLASSES
    return mx.array(X), mx.array(pad), mx.array(y_obs.astype(np.int32)), mx.array(y.astype(np.int32))


class StringEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(2, D)
        self.attn = nn.MultiHeadAttention(D, HEADS)
        self.n1 = nn.LayerNorm(D)
        self.ff = nn.Sequential(nn.Linear(D, 2 * D), nn.GELU(), nn.Linear(2 * D, D))
        self.n2 = nn.LayerNorm(D)
        self.head = nn.Linear(D, CLASSES)

    def __call__(self, x, pad):
        h = self.inp(x)
        bias = mx.where(pad, -1e9, 0.0)[:, None, None, :]  # keys only
        a = self.n1(h)
        h = h + self.attn(a, a, a, mask=bias)
        h = h + self.ff(self.n2(h))
        keep = (~pad).astype(h.dtype)[..., None]
        pooled = (h * keep).sum(axis=1) / keep.sum(axis=1)
        return self.head(pooled)


def loss_fn(model, x, pad, y):
    return nn.losses.cross_entropy(model(x, pad), y).mean()


def evaluate(model, x, pad, y_obs, y_true):
    logits = model(x, pad)
    ll = -nn.losses.cross_entropy(logits, y_obs).mean().item()
    pred = mx.argmax(logits, axis=-1)
    acc_obs = (pred == y_obs).astype(mx.float32).mean().item() * 100
    acc_true = (pred == y_true).astype(mx.float32).mean().item() * 100
    return ll, acc_obs, acc_true


def build(lr_sched):
    m = StringEncoder()
    mx.eval(m.parameters())
    return m, optim.Adam(learning_rate=lr_sched)


Xtr, Ptr, Ytr, _ = make_strings(1920)
Xva, Pva, Yva, Tva = make_strings(600)
BATCH, EPOCHS, CYCLE_EPOCHS = 48, 9, 3
steps_per_epoch = 1920 // BATCH
cycle = CYCLE_EPOCHS * steps_per_epoch
PEAK, LOW = 4e-3, 1e-4


def sgdr(step):
    pos = step % cycle
    return LOW + 0.5 * (PEAK - LOW) * (1 + mx.cos(math.pi * pos / cycle))


model, opt = build(sgdr)
grad_fn = nn.value_and_grad(model, loss_fn)

majority = max(np.bincount(np.array(Yva), minlength=CLASSES)) / len(Yva) * 100
prior_ll = math.log(1.0 / CLASSES)
best_ll = math.log(1 - LABEL_NOISE) * (1 - LABEL_NOISE) + LABEL_NOISE * math.log(LABEL_NOISE / (CLASSES - 1))
print(json.dumps({"event": "data", "train": 1920, "valid": 600, "len_range": [6, MAXLEN],
                  "majority_acc_pct": round(majority, 1), "uniform_ll": round(prior_ll, 4),
                  "label_noise_ll_ceiling": round(best_ll, 4)}))

# padding audit: the same string padded to two different widths must score the same
x1, p1, _, _ = make_strings(4)
L_real = [int((~p1[i]).sum().item()) for i in range(4)]
x_short = x1[:, -max(L_real):]
p_short = p1[:, -max(L_real):]
diff = mx.abs(model(x1, p1) - model(x_short, p_short)).max().item()
print(json.dumps({"event": "pad_audit", "max_logit_diff": float("%.2e" % diff)}))

ckpt_dir = tempfile.mkdtemp()
epoch = 0
step = 0
while epoch < EPOCHS:
    epoch += 1
    perm = mx.array(rng.permutation(1920))
    tot = 0.0
    for b in range(steps_per_epoch):
        idx = perm[b * BATCH:(b + 1) * BATCH]
        loss, g = grad_fn(model, Xtr[idx], Ptr[idx], Ytr[idx])
        if step == 0:
            norms = [mx.linalg.norm(v).item() for _, v in tree_flatten(g)]
            print(json.dumps({"event": "grad_audit", "leaves": len(norms), "min_norm": float("%.3e" % min(norms)),
                              "lr_first_step": float("%.2e" % sgdr(0).item())}))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        step += 1
    ll, acc_obs, acc_true = evaluate(model, Xva, Pva, Yva, Tva)
    print(json.dumps({"event": "epoch", "epoch": epoch, "step": step,
                      "lr": float("%.2e" % sgdr(step).item()),
                      "train_ll": round(-tot / steps_per_epoch, 4), "valid_ll": round(ll, 4),
                      "valid_acc_pct": round(acc_obs, 1), "clean_acc_pct": round(acc_true, 1)}))
    if epoch == 5:
        model.save_weights(os.path.join(ckpt_dir, "weights.safetensors"))
        mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
        with open(os.path.join(ckpt_dir, "progress.json"), "w") as f:
            json.dump({"epoch": epoch, "step": step, "valid_ll": ll}, f)
        del model, opt, grad_fn
        model, opt = build(sgdr)
        model.load_weights(os.path.join(ckpt_dir, "weights.safetensors"))
        opt.init(model.trainable_parameters())
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
        grad_fn = nn.value_and_grad(model, loss_fn)
        with open(os.path.join(ckpt_dir, "progress.json")) as f:
            prog = json.load(f)
        ll2, _, _ = evaluate(model, Xva, Pva, Yva, Tva)
        print(json.dumps({"event": "resumed", "epoch": prog["epoch"], "step": int(opt.step.item()),
                          "valid_ll_delta": float("%.1e" % (ll2 - prog["valid_ll"]))}))

ll, acc_obs, acc_true = evaluate(model, Xva, Pva, Yva, Tva)
print(json.dumps({"event": "done", "valid_ll": round(ll, 4), "valid_acc_pct": round(acc_obs, 1),
                  "clean_acc_pct": round(acc_true, 1), "majority_acc_pct": round(majority, 1)}))
