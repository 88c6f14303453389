"""Hurling training ground: 4-way sliotar strike outcome from 10 tracker readings.

Hidden weight matrices: hand-written Muon (Nesterov momentum + quintic
Newton-Schulz orthogonalisation); input layer, head and biases: hand-written Adam.
Two sessions with a checkpoint in between. Rows are printed as CSV.
"""
import json
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten

T0 = time.time()
rng = np.random.default_rng(1884)
OUTCOMES = ["point", "wide", "blocked", "dropped_short"]


def make(n):
    X = rng.normal(size=(n, 10)).astype(np.float32)
    # hurl speed, swing angle, lift height, distance, wind along, wind across,
    # marker pressure, stance, fatigue, pitch wetness (all standardised)
    s_point = 1.2 * X[:, 0] - 0.8 * np.abs(X[:, 1]) - 0.6 * X[:, 3] + 0.5 * X[:, 4] - 0.4 * X[:, 8]
    s_wide = 0.9 * np.abs(X[:, 1]) + 0.7 * np.abs(X[:, 5]) + 0.3 * X[:, 2] * X[:, 1]
    s_block = 1.1 * X[:, 6] - 0.5 * X[:, 2] + 0.4 * X[:, 7]
    s_short = -1.0 * X[:, 0] + 0.8 * X[:, 3] + 0.6 * X[:, 9] - 0.5 * X[:, 4]
    logits = np.stack([s_point + 0.4, s_wide, s_block - 0.2, s_short], axis=1) * 1.6
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(4, p=row) for row in p])
    bayes_ce = float(-np.mean(np.log(p[np.arange(n), y])))
    return X, y.astype(np.int32), bayes_ce


Xtr, ytr, _ = make(16000)
Xva, yva, bayes_va = make(2000)
Xtr_m, ytr_m, Xva_m, yva_m = map(mx.array, (Xtr, ytr, Xva, yva))
majority_pct = 100.0 * np.bincount(ytr, minlength=4).max() / len(ytr)


class StrikeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(10, 64)
        self.h1 = nn.Linear(64, 64)
        self.h2 = nn.Linear(64, 64)
        self.head = nn.Linear(64, 4)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = h + nn.gelu(self.h1(h))
        h = h + nn.gelu(self.h2(h))
        return self.head(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def newton_schulz5(G, steps=5, eps=1e-7):
    a, b, c = 3.4445, -4.7750, 2.0315
    X = G / (mx.linalg.norm(G) + eps)
    tall = G.shape[0] > G.shape[1]
    if tall:
        X = X.T
    for _ in range(steps):
        A = X @ X.T
        B = b * A + c * (A @ A)
        X = a * X + B @ X
    if tall:
        X = X.T
    return X


MUON_KEYS = ("h1.weight", "h2.weight")


class Hybrid:
    def __init__(self, muon_lr=0.01, adam_lr=2e-3, mom=0.95, betas=(0.9, 0.99), eps=1e-8):
        self.muon_lr, self.adam_lr = muon_lr, adam_lr
        self.mom, self.b1, self.b2, self.eps = mom, betas[0], betas[1], eps
        self.t = 0
        self.buf = {}

    def step(self, params, grads, scale):
        self.t += 1
        fp, fg = dict(tree_flatten(params)), dict(tree_flatten(grads))
        out = {}
        for k, p in fp.items():
            g = fg[k]
            if k in MUON_KEYS:
                m = self.buf.get("mu::" + k, mx.zeros_like(p))
                m = self.mom * m + g
                self.buf["mu::" + k] = m
                u = newton_schulz5(g + self.mom * m)
                u = u * max(1.0, p.shape[0] / p.shape[1]) ** 0.5
                out[k] = p - scale * self.muon_lr * u
            else:
                m = self.b1 * self.buf.get("m::" + k, mx.zeros_like(p)) + (1 - self.b1) * g
                v = self.b2 * self.buf.get("v::" + k, mx.zeros_like(p)) + (1 - self.b2) * g * g
                self.buf["m::" + k], self.buf["v::" + k] = m, v
                mh = m / (1 - self.b1 ** self.t)
                vh = v / (1 - self.b2 ** self.t)
                out[k] = p - scale * self.adam_lr * mh / (mx.sqrt(vh) + self.eps)
        return tree_unflatten(list(out.items()))


EPOCHS, BATCH = 8, 200
SPE = len(ytr) // BATCH
TOTAL = EPOCHS * SPE
DECAY_FROM = int(0.6 * TOTAL)


def lr_scale(step):
    # constant, then linear cool-down that reaches exactly 0 on the last step
    if step <= DECAY_FROM:
        return 1.0
    return (TOTAL - step) / (TOTAL - DECAY_FROM)


def evaluate(model):
    logits = model(Xva_m)
    ce = float(nn.losses.cross_entropy(logits, yva_m, reduction="mean"))
    acc = float(mx.mean(mx.argmax(logits, axis=1) == yva_m)) * 100
    return ce, acc


def train_epochs(model, opt, first_epoch, last_epoch, perm_rng, session):
    vg = nn.value_and_grad(model, loss_fn)
    for ep in range(first_epoch, last_epoch + 1):
        perm = perm_rng.permutation(len(ytr))
        run = 0.0
        for b in range(SPE):
            idx = mx.array(perm[b * BATCH:(b + 1) * BATCH])
            loss, grads = vg(model, Xtr_m[idx], ytr_m[idx])
            sc = lr_scale(opt.t + 1)
            model.update(opt.step(model.parameters(), grads, sc))
            mx.eval(model.parameters(), list(opt.buf.values()), loss)
            run += float(loss)
        ce, acc = evaluate(model)
        print(f"{session},{ep},{opt.t},{sc * opt.muon_lr:.4f},{sc * opt.adam_lr:.5f},"
              f"{run / SPE:.4f},{ce:.4f},{acc:.2f},{bayes_va:.4f},{majority_pct:.2f},"
              f"{time.time() - T0:.1f}")


print("# outcomes: " + "/".join(OUTCOMES) + f"; train {len(ytr)} valid {len(yva)}")
print("session,epoch,step,lr_muon,lr_adam,train_ce,valid_ce,valid_acc_pct,"
      "bayes_ce,majority_pct,elapsed_s")

mx.random.seed(11)
model = StrikeNet()
mx.eval(model.parameters())
opt = Hybrid()
perm_rng = np.random.default_rng(5)
ce0, acc0 = evaluate(model)
print(f"A,0,0,,,,{ce0:.4f},{acc0:.2f},{bayes_va:.4f},{majority_pct:.2f},{time.time() - T0:.1f}")
train_epochs(model, opt, 1, 4, perm_rng, "A")

ckpt = tempfile.mkdtemp()
model.save_weights(os.path.join(ckpt, "weights.safetensors"))
mx.savez(os.path.join(ckpt, "opt.npz"), **opt.buf)
saved_ce, _ = evaluate(model)
with open(os.path.join(ckpt, "meta.json"), "w") as f:
    json.dump({"t": opt.t, "valid_ce": saved_ce,
               "perm_state": perm_rng.bit_generator.state}, f)
del model, opt, perm_rng

mx.random.seed(999)
model = StrikeNet()
model.load_weights(os.path.join(ckpt, "weights.safetensors"))
opt = Hybrid()
opt.buf = dict(mx.load(os.path.join(ckpt, "opt.npz")))
with open(os.path.join(ckpt, "meta.json")) as f:
    meta = json.load(f)
opt.t = meta["t"]
perm_rng = np.random.default_rng()
perm_rng.bit_generator.state = meta["perm_state"]
restored_ce, _ = evaluate(model)
assert abs(restored_ce - meta["valid_ce"]) < 1e-6
print(f"# restored from {os.path.basename(ckpt)} at step {opt.t}: valid_ce {restored_ce:.4f}")
train_epochs(model, opt, 5, EPOCHS, perm_rng, "B")
shutil.rmtree(ckpt)
