"""Hop-lot re-identification from GC essential-oil profiles.

A buyer re-tests bales and wants to know which lot a bale came from.  We train a
pairwise contrastive embedding on P x K batches.  Stage 1 uses in-batch pairs only;
from step 200 a cross-batch memory (XBM, Wang et al. 2020) of recent embeddings adds
many more negatives, so the printed loss jumps when stage 2 starts.  The run writes a
checkpoint at step 300 and resumes from it into freshly built objects.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
N_FEAT, N_LAT = 18, 5
N_LOTS_TRAIN, N_LOTS_TEST, PER_LOT = 60, 20, 30
MIX1 = rng.normal(0, 0.8, (N_LAT, 24)).astype(np.float32)
MIX2 = rng.normal(0, 0.5, (24, N_FEAT)).astype(np.float32)
MOISTURE = rng.normal(0, 1.0, N_FEAT).astype(np.float32)  # kiln-drying moisture shifts every oil


def lot_profiles(n_lots):
    lat = rng.normal(0, 1, (n_lots, N_LAT)).astype(np.float32)
    X, y = [], []
    for i in range(n_lots):
        for _ in range(PER_LOT):
            z = lat[i] + rng.normal(0, 0.3, N_LAT)   # bale-to-bale variation
            x = np.tanh(z @ MIX1) @ MIX2
            x = x + rng.uniform(-1.2, 1.2) * MOISTURE  # bale moisture
            x = x + rng.uniform(-0.4, 0.4)           # column drift on the GC run
            x = x * rng.uniform(0.85, 1.15)          # injection volume
            x = x + rng.normal(0, 0.08, N_FEAT)
            X.append(x)
            y.append(i)
    return np.array(X, np.float32), np.array(y, np.int32)


Xtr, ytr = lot_profiles(N_LOTS_TRAIN)
Xte, yte = lot_profiles(N_LOTS_TEST)
mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
print(f"{len(Xtr)} training bales from {N_LOTS_TRAIN} lots; {len(Xte)} held-out bales from {N_LOTS_TEST} new lots")


class Embedder(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 96)
        self.l2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, 24)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        z = self.out(h)
        return z / mx.sqrt((z * z).sum(-1, keepdims=True) + 1e-12)


def pair_loss(sim, pos_mask, neg_mask, margin=0.5):
    pos = ((1.0 - sim) * pos_mask).sum() / mx.maximum(pos_mask.sum(), 1.0)
    neg_terms = mx.maximum(sim - margin, 0.0) * neg_mask
    neg = neg_terms.sum() / mx.maximum((neg_terms > 0).sum(), 1.0)
    return pos + neg


def loss_fn(model, x, y, mem_emb, mem_lab):
    e = model(x)
    sim = e @ e.T
    same = (y[:, None] == y[None, :]).astype(mx.float32)
    eye = mx.eye(len(y))
    total = pair_loss(sim, same - eye, 1.0 - same)
    if mem_emb is not None:
        msim = e @ mx.stop_gradient(mem_emb).T
        msame = (y[:, None] == mem_lab[None, :]).astype(mx.float32)
        total = total + pair_loss(msim, msame, 1.0 - msame)
    return total


def pk_batch(P=8, K=4):
    lots = rng.choice(N_LOTS_TRAIN, P, replace=False)
    idx = np.concatenate([rng.choice(np.where(ytr == l)[0], K, replace=False) for l in lots])
    return mx.array(Xtr[idx]), mx.array(ytr[idx])


def recall_and_map(emb, labels):
    sim = emb @ emb.T - 3.0 * np.eye(len(emb))
    order = np.argsort(-sim, axis=1)[:, :-1]
    hits = labels[order] == labels[:, None]
    r1 = hits[:, 0].mean()
    ap = []
    for row in hits:
        ranks = np.where(row)[0] + 1
        ap.append(np.mean(np.arange(1, len(ranks) + 1) / ranks))
    return float(r1), float(np.mean(ap))


raw_r1, raw_map = recall_and_map(Xte / np.linalg.norm(Xte, axis=1, keepdims=True), yte)
print(f"raw-profile baseline on new lots: recall@1 {raw_r1:.3f}  mAP {raw_map:.3f}")

MEM_SIZE, XBM_START, CKPT_STEP, STEPS = 1024, 200, 300, 600


def build():
    m = Embedder()
    mx.eval(m.parameters())
    return m, optim.Adam(learning_rate=optim.cosine_decay(1e-3, STEPS, 2e-5))


def run(model, opt, start, stop, memory):
    grad_fn = nn.value_and_grad(model, loss_fn)
    for step in range(start, stop):
        xb, yb = pk_batch()
        use_mem = step >= XBM_START and memory["emb"] is not None
        loss, grads = grad_fn(model, xb, yb, memory["emb"] if use_mem else None,
                              memory["lab"] if use_mem else None)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step >= XBM_START - 50:  # start filling the memory a little before it is used
            new_e = mx.stop_gradient(model(xb))
            if memory["emb"] is None:
                memory["emb"], memory["lab"] = new_e, yb
            else:
                memory["emb"] = mx.concatenate([memory["emb"], new_e])[-MEM_SIZE:]
                memory["lab"] = mx.concatenate([memory["lab"], yb])[-MEM_SIZE:]
            mx.eval(memory["emb"], memory["lab"])
        if step % 50 == 0 or step == XBM_START:
            r1, mp = recall_and_map(np.array(model(mx.array(Xte))), yte)
            tag = "in-batch+memory" if use_mem else "in-batch"
            n_mem = 0 if memory["emb"] is None else memory["emb"].shape[0]
            print(f"step {step:3d} [{tag:15s}] loss {float(loss):.4f}  memory {n_mem:4d}  "
                  f"new-lot recall@1 {r1:.3f}  mAP {mp:.3f}")
    return model, opt


t0 = time.time()
mx.random.seed(3)
model, opt = build()
memory = {"emb": None, "lab": None}
model, opt = run(model, opt, 0, CKPT_STEP, memory)

ckdir = tempfile.mkdtemp()
model.save_weights(os.path.join(ckdir, "embedder.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "adam.safetensors"), dict(tree_flatten(opt.state)))
mx.save_safetensors(os.path.join(ckdir, "memory.safetensors"), {"emb": memory["emb"], "lab": memory["lab"]})
probe_x = mx.array(Xte[:64])
before = np.array(model(probe_x))
print(f"checkpoint written at step {CKPT_STEP} -> {ckdir}")

model, opt = build()
model.load_weights(os.path.join(ckdir, "embedder.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "adam.safetensors")).items()))
mem_loaded = mx.load(os.path.join(ckdir, "memory.safetensors"))
memory = {"emb": mem_loaded["emb"], "lab": mem_loaded["lab"]}
after = np.array(model(probe_x))
print(f"resumed: max |embedding diff| on probe bales {np.abs(before - after).max():.2e}, "
      f"optimizer step {int(opt.state['step'])}")
model, opt = run(model, opt, CKPT_STEP, STEPS + 1, memory)

r1, mp = recall_and_map(np.array(model(mx.array(Xte))), yte)
print(f"final new-lot recall@1 {r1:.3f} mAP {mp:.3f} (raw baseline {raw_r1:.3f} / {raw_map:.3f}), "
      f"{time.time() - t0:.1f}s")
