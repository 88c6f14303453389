"""Unsupervised SimCSE on synthetic library-catalogue sentences.

Each sentence is encoded twice with different dropout masks; the two views of
the same sentence are the positive pair, the rest of the batch are negatives.
Evaluation: Spearman correlation between cosine similarity and a graded
similarity label on held-out sentence pairs, next to a bag-of-words baseline.
The run saves a checkpoint half way, rebuilds everything from it, and resumes.
"""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(337)
mx.random.seed(337)

SUBJECTS = {
    "astronomy": ["stars", "comets", "galaxies", "telescopes", "planets"],
    "cooking": ["bread", "soups", "spices", "pastry", "sauces"],
    "sailing": ["knots", "rigging", "tides", "harbours", "charts"],
    "gardening": ["roses", "compost", "seeds", "hedges", "orchards"],
    "mining": ["tunnels", "ores", "quarries", "shafts", "minerals"],
    "music": ["violins", "choirs", "scales", "organs", "rhythm"],
}
FORMS = ["a guide to", "notes on", "the history of", "a field manual of", "essays on"]
AUDIENCE = ["for beginners", "for schools", "for experts", "for families", ""]
ERA = ["in the old world", "in modern times", "across europe", "", "at sea"]

topics = list(SUBJECTS)
words = set()
for t in topics:
    words.update(SUBJECTS[t])
    words.add(t)
for p in FORMS + AUDIENCE + ERA:
    words.update(p.split())
vocab = ["<pad>"] + sorted(words)
tok = {w: i for i, w in enumerate(vocab)}
MAXLEN = 14


def make_sentence():
    t = int(rng.integers(len(topics)))
    a, b = rng.choice(5, size=2, replace=False)
    parts = [FORMS[rng.integers(5)], SUBJECTS[topics[t]][a], "and",
             SUBJECTS[topics[t]][b], AUDIENCE[rng.integers(5)], ERA[rng.integers(5)]]
    if rng.random() < 0.5:
        parts.insert(1, topics[t])
    text = " ".join(p for p in parts if p)
    return text, t, {int(a), int(b)}


tok["and"] = tok.get("and", len(vocab))
if "and" not in vocab:
    vocab.append("and")


def encode(text):
    ids = [tok[w] for w in text.split()][:MAXLEN]
    return ids + [0] * (MAXLEN - len(ids))


train = [make_sentence() for _ in range(3000)]
X_train = mx.array(np.array([encode(s) for s, _, _ in train], dtype=np.int32))

# held-out graded pairs: 2 = same subject and both items shared, 1 = same
# subject with one shared item, 0.5 = same subject only, 0 = different subject
pairs, gold = [], []
while len(pairs) < 600:
    s1, t1, k1 = make_sentence()
    s2, t2, k2 = make_sentence()
    if t1 != t2 and rng.random() < 0.5:
        continue
    g = 0.0 if t1 != t2 else 0.5 + 0.75 * len(k1 & k2)
    pairs.append((s1, s2))
    gold.append(g)
gold = np.array(gold)
PA = mx.array(np.array([encode(a) for a, _ in pairs], dtype=np.int32))
PB = mx.array(np.array([encode(b) for _, b in pairs], dtype=np.int32))


def spearman(x, y):
    rx = np.argsort(np.argsort(x)).astype(float)
    ry_vals = y + 1e-9 * np.arange(len(y))
    ry = np.argsort(np.argsort(ry_vals)).astype(float)
    return float(np.corrcoef(rx, ry)[0, 1])


def bow(ids):
    v = np.zeros((ids.shape[0], len(vocab)))
    for r, row in enumerate(ids):
        for i in row:
            if i:
                v[r, i] += 1
    return v / np.linalg.norm(v, axis=1, keepdims=True)


pa_np, pb_np = np.array(PA), np.array(PB)
bow_rho = spearman((bow(pa_np) * bow(pb_np)).sum(1), gold)


class Encoder(nn.Module):
    def __init__(self, nvocab, dim=64, out=48, p=0.1):
        super().__init__()
        self.emb = nn.Embedding(nvocab, dim)
        self.pos = nn.Embedding(MAXLEN, dim)
        self.mix = nn.Sequential(nn.Linear(dim, 128), nn.GELU(), nn.Linear(128, dim))
        self.norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(p)
        self.proj = nn.Linear(dim, out)

    def __call__(self, ids):
        mask = (ids > 0).astype(mx.float32)[..., None]
        h = self.emb(ids) + self.pos(mx.arange(ids.shape[1]))
        h = self.drop(h)
        h = h + self.drop(self.mix(self.norm(h)))
        pooled = (h * mask).sum(axis=1) / mx.maximum(mask.sum(axis=1), 1.0)
        z = self.proj(pooled)
        return z / mx.linalg.norm(z, axis=-1, keepdims=True)


TAU = 0.05


def simcse_loss(model, ids):
    z1 = model(ids)
    z2 = model(ids)
    logits = (z1 @ z2.T) / TAU
    labels = mx.arange(ids.shape[0])
    return nn.losses.cross_entropy(logits, labels, reduction="mean")


def evaluate(model):
    model.eval()
    za, zb = model(PA), model(PB)
    cos = np.array((za * zb).sum(axis=1))
    zt = model(X_train[:256])
    model.train()
    align = float(mx.mean(mx.sum((model(PA[:256]) - model(PA[:256])) ** 2, axis=1)))
    d2 = mx.sum((zt[:, None, :] - zt[None, :, :]) ** 2, axis=-1)
    off = 1 - mx.eye(zt.shape[0])
    unif = float(mx.log(mx.sum(mx.exp(-2 * d2) * off) / mx.sum(off)))
    model.train()
    return spearman(cos, gold), align, unif


BATCH = 64
WARM = 30
PEAK = 0.08
TOTAL = 240
HALF = 120


def make_opt():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, TOTAL - WARM, 0.004)],
        [WARM])
    return optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True, weight_decay=1e-5)


def run(model, opt, start, stop, order, t0):
    lg = nn.value_and_grad(model, simcse_loss)
    nb = X_train.shape[0] // BATCH
    window = []
    for step in range(start, stop):
        k = step % nb
        if k == 0 and step > 0:
            order[:] = rng.permutation(X_train.shape[0])
        idx = mx.array(order[k * BATCH:(k + 1) * BATCH])
        lr_now = float(opt.learning_rate)
        loss, grads = lg(model, X_train[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(float(loss))
        if (step + 1) % 30 == 0 or step == 0:
            rho, al, un = evaluate(model)
            print(f"{step + 1},{lr_now:.5f},{np.mean(window):.4f},{rho:.4f},{bow_rho:.4f},"
                  f"{al:.4f},{un:.4f},{time.time() - t0:.1f}")
            window = []


t0 = time.time()
print(f"# vocab={len(vocab)} train={X_train.shape[0]} pairs={len(pairs)} tau={TAU}")
model = Encoder(len(vocab))
rho0, al0, un0 = evaluate(model)
print(f"# untrained spearman={rho0:.4f} bow_baseline={bow_rho:.4f} log(batch)={np.log(BATCH):.4f}")
print("step,lr,train_infonce,val_spearman,bow_spearman,align,uniformity,secs")
opt = make_opt()
order = rng.permutation(X_train.shape[0])
run(model, opt, 0, HALF, order, t0)

ckdir = tempfile.mkdtemp()
model.save_weights(os.path.join(ckdir, "enc.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckdir, "meta.json"), "w") as f:
    json.dump({"step": HALF, "order": order.tolist()}, f)
saved_rho = evaluate(model)[0]
del model, opt

model = Encoder(len(vocab))
model.load_weights(os.path.join(ckdir, "enc.safetensors"))
opt = make_opt()
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
meta = json.load(open(os.path.join(ckdir, "meta.json")))
order = np.array(meta["order"])
resumed_rho = evaluate(model)[0]
print(f"# resumed from {ckdir} at step {meta['step']}: spearman saved={saved_rho:.4f} "
      f"reloaded={resumed_rho:.4f} opt_step={int(opt.state['step'])}")
run(model, opt, meta["step"], TOTAL, order, t0)

rho, al, un = evaluate(model)
print(f"# done: val_spearman={rho:.4f} (bow {bow_rho:.4f}, untrained {rho0:.4f}) "
      f"align={al:.4f} uniformity={un:.4f} secs={time.time() - t0:.1f}")
