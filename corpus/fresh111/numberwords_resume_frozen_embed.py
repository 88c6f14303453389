"""Read English number words ("three hundred and twelve") and regress the value.

The word-embedding table is a fixed random code book (frozen on purpose); only
the MLP over the concatenated slot embeddings trains.  Run in two sessions:
session 1 warms the learning rate up from exactly 0 and writes a checkpoint
(weights + optimizer state + step) into a temp dir; session 2 builds a fresh
model, restores everything and carries on.  Logged with the logging module.
"""
import json
import logging
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("numwords")

ONES = "zero one two three four five six seven eight nine".split()
TEENS = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def words(n):
    out = []
    h, rest = divmod(n, 100)
    if h:
        out += [ONES[h], "hundred"]
        if rest:
            out.append("and")
    if rest or not h:
        if rest < 10:
            out.append(ONES[rest])
        elif rest < 20:
            out.append(TEENS[rest - 10])
        else:
            t, o = divmod(rest, 10)
            out.append(TENS[t])
            if o:
                out.append(ONES[o])
    return out


VOCAB = ["<pad>"] + sorted({w for n in range(1000) for w in words(n)})
W2I = {w: i for i, w in enumerate(VOCAB)}
SLOTS = max(len(words(n)) for n in range(1000))


def encode(n):
    ids = [W2I[w] for w in words(n)]
    return ids + [0] * (SLOTS - len(ids))


rng = np.random.default_rng(3)
mx.random.seed(3)
nums = rng.permutation(1000)
train_n, val_n = nums[:800], nums[800:]
X_all = np.array([encode(n) for n in range(1000)], dtype=np.int32)
Y_all = (np.arange(1000, dtype=np.float32) / 999.0)


class Reader(nn.Module):
    def __init__(self, vocab, dim=16, hidden=128):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.fc1 = nn.Linear(SLOTS * dim, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, ids):
        e = self.embed(ids).reshape(ids.shape[0], -1)
        h = nn.gelu(self.fc1(e))
        h = nn.gelu(self.fc2(h))
        return self.out(h).squeeze(-1)


def build(seed_table):
    m = Reader(len(VOCAB))
    m.embed.weight = mx.array(seed_table)
    m.embed.freeze()  # fixed code book, not trained
    return m


TABLE = np.random.default_rng(11).normal(0, 1, (len(VOCAB), 16)).astype(np.float32)
WARMUP, TOTAL, PEAK = 300, 2400, 2e-3
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARMUP), optim.cosine_decay(PEAK, TOTAL - WARMUP, 5e-5)],
    [WARMUP])


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def val_mae(model):
    pred = np.array(model(mx.array(X_all[val_n])))
    return float(np.mean(np.abs(pred - Y_all[val_n])) * 999.0)


def run_session(model, opt, start, stop, tag):
    grad_fn = nn.value_and_grad(model, loss_fn)
    batch = 32
    per_epoch = len(train_n) // batch
    acc = []
    for step in range(start, stop):
        if step % per_epoch == 0:
            order = rng.permutation(train_n)
        j = step % per_epoch
        idx = order[j * batch:(j + 1) * batch]
        x, y = mx.array(X_all[idx]), mx.array(Y_all[idx])
        loss, grads = grad_fn(model, x, y)
        if step == 0:
            flat = tree_flatten(grads)
            dead = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
            log.info("grad leaves=%d zero=%s (embed frozen: %s)", len(flat), dead,
                     "embed.weight" not in dict(tree_flatten(model.trainable_parameters())))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        acc.append(loss.item())
        if (step + 1) % 200 == 0:
            log.info("[%s] step %4d lr %.2e train_mse %.2e val_mae %.1f (in units)",
                     tag, step + 1, float(opt.learning_rate), float(np.mean(acc)), val_mae(model))
            acc = []


t0 = time.time()
ckdir = tempfile.mkdtemp(prefix="numwords_")
HALF = 1200

model = build(TABLE)
opt = optim.AdamW(learning_rate=schedule, weight_decay=1e-4)
log.info("vocab=%d slots=%d train=%d val=%d predict-mean val_mae=%.1f", len(VOCAB), SLOTS,
         len(train_n), len(val_n), float(np.mean(np.abs(Y_all[val_n] - Y_all[train_n].mean())) * 999))
run_session(model, opt, 0, HALF, "s1")
model.save_weights(os.path.join(ckdir, "model.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckdir, "meta.json"), "w") as f:
    json.dump({"step": HALF}, f)
before = val_mae(model)
log.info("checkpoint written to %s (val_mae %.1f)", ckdir, before)
del model, opt

# ---- session 2: fresh objects, restore, continue ----
model = build(np.zeros_like(TABLE))
model.load_weights(os.path.join(ckdir, "model.safetensors"))
model.embed.freeze()
opt = optim.AdamW(learning_rate=schedule, weight_decay=1e-4)
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
with open(os.path.join(ckdir, "meta.json")) as f:
    start = json.load(f)["step"]
log.info("resumed at step %d, val_mae %.1f (before save %.1f)", start, val_mae(model), before)
run_session(model, opt, start, TOTAL, "s2")
for n in (7, 40, 315, 999):
    p = float(model(mx.array(X_all[[n]])).item()) * 999
    log.info("probe %-28s -> %.0f", " ".join(words(n)), p)
log.info("done in %.1fs", time.time() - t0)
