"""Base-level LSTM language model of simulated sequencing reads.

Reads come from a toy genome: coding stretches built from a skewed codon
table (ATG start, one of three stop codons) separated by AT-rich spacers.
The score is the mean log-likelihood per base in nats on held-out reads
(negative; closer to 0 is better), printed beside an order-0 and an order-4
count model.  Training runs in two sessions: the first writes a checkpoint
and stops, the second rebuilds everything from the files and carries on.
Every report is written as a FASTQ record whose sequence is a sample drawn
from the model and whose quality string is the model's own confidence.
"""
import json
import math
import os
import tempfile
import time
from collections import defaultdict

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
BASES = "ACGT"
STOPS = ["TAA", "TAG", "TGA"]
CODONS = [a + b + c for a in BASES for b in BASES for c in BASES]
CODONS = [c for c in CODONS if c not in STOPS]
w = rng.gamma(0.4, 1.0, size=len(CODONS))
CODON_P = w / w.sum()


def genome(n_genes):
    parts = []
    for _ in range(n_genes):
        spacer = rng.choice(list(BASES), size=rng.integers(10, 40), p=[0.35, 0.15, 0.15, 0.35])
        parts.append("".join(spacer))
        k = rng.integers(15, 60)
        body = rng.choice(len(CODONS), size=k, p=CODON_P)
        parts.append("ATG" + "".join(CODONS[i] for i in body) + STOPS[rng.integers(3)])
    return "".join(parts)


g = genome(900)
ids = np.array([BASES.index(c) for c in g], dtype=np.int32)
cut = int(0.85 * len(ids))
train_ids, valid_ids = ids[:cut], ids[cut:]
L = 24


def batch(src, n):
    start = rng.integers(0, len(src) - L - 1, size=n)
    idx = start[:, None] + np.arange(L + 1)[None, :]
    w = src[idx]
    return mx.array(w[:, :-1]), mx.array(w[:, 1:])


vs = np.arange(0, len(valid_ids) - L - 1, L)
v_idx = vs[:, None] + np.arange(L + 1)[None, :]
v_win = valid_ids[v_idx]
VX, VY = mx.array(v_win[:, :-1]), mx.array(v_win[:, 1:])


def kgram_loglik(k):
    counts = defaultdict(lambda: np.ones(4))
    s = train_ids
    for i in range(k, len(s)):
        counts[tuple(s[i - k:i])][s[i]] += 1
    tot = 0.0
    n = 0
    for row in v_win:
        for t in range(1, L + 1):
            ctx = tuple(row[max(0, t - k):t])
            if len(ctx) < k:
                continue
            c = counts[ctx]
            tot += math.log(c[row[t]] / c.sum())
            n += 1
    return tot / n


class BaseLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(4, 8)
        self.rnn = nn.LSTM(8, 40)
        self.head = nn.Linear(40, 4)

    def __call__(self, x):
        h, _ = self.rnn(self.emb(x))
        return self.head(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def valid_loglik(model):
    return -nn.losses.cross_entropy(model(VX), VY, reduction="mean").item()


def schedule():
    warm = optim.linear_schedule(0.0, 5e-3, 30)
    cos = optim.cosine_decay(5e-3, 170, 2e-4)
    return optim.join_schedules([warm, cos], [30])


def fastq(model, tag, header, key):
    seq = [0]
    qual = []
    for _ in range(32):
        logits = model(mx.array([seq[-L:]]))[0, -1]
        key, sub = mx.random.split(key)
        nxt = mx.random.categorical(logits / 0.8, key=sub).item()
        p = mx.softmax(logits)[nxt].item()
        q = min(40, int(-10 * math.log10(max(1e-4, 1 - p))))
        seq.append(nxt)
        qual.append(chr(33 + q))
    print(f"@{tag} " + " ".join(f"{k}={v}" for k, v in header.items()))
    print("".join(BASES[i] for i in seq[1:]))
    print("+")
    print("".join(qual))
    return key


def train(model, opt, first, last, t0, key):
    lvg = nn.value_and_grad(model, loss_fn)
    acc = []
    for step in range(first, last + 1):
        x, y = batch(train_ids, 48)
        loss, grads = lvg(model, x, y)
        grads, _ = optim.clip_grad_norm(grads, 1.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        acc.append(loss.item())
        if step % 50 == 0:
            key = fastq(model, f"step{step:04d}", {
                "lr": f"{opt.learning_rate.item():.2e}",
                "train_ll": f"{-sum(acc) / len(acc):.4f}",
                "valid_ll": f"{valid_loglik(model):.4f}",
                "secs": f"{time.time() - t0:.1f}",
            }, key)
            acc = []
    return key


t0 = time.time()
mx.random.seed(5)
key = mx.random.key(21)
print(f"# genome {len(g)} bases, train {len(train_ids)}, valid {len(valid_ids)} ({VX.shape[0]} windows of {L})")
print(f"# baselines valid_ll: order-0 uniform {-math.log(4):.4f}, order-4 counts {kgram_loglik(4):.4f}")

model = BaseLM()
opt = optim.Adam(learning_rate=schedule())
mx.eval(model.parameters())
x0, y0 = batch(train_ids, 48)
l0, g0 = nn.value_and_grad(model, loss_fn)(model, x0, y0)
leaves = tree_flatten(g0)
print(f"# gradient leaves {len(leaves)}, all-zero "
      f"{[k for k, v in leaves if mx.all(v == 0).item()]}, loss0 {l0.item():.4f}, lr at step 1 {opt.learning_rate.item():.1f}")
key = fastq(model, "step0000", {"lr": "0.00e+00", "train_ll": "nan", "valid_ll": f"{valid_loglik(model):.4f}",
                                "secs": f"{time.time() - t0:.1f}"}, key)

key = train(model, opt, 1, 100, t0, key)

ckdir = tempfile.mkdtemp()
model.save_weights(os.path.join(ckdir, "model.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckdir, "meta.json"), "w") as f:
    json.dump({"step": 100, "rng": rng.bit_generator.state}, f)
saved = valid_loglik(model)
print(f"# session 1 stopped at step 100, checkpoint in {len(os.listdir(ckdir))} files, valid_ll {saved:.4f}")
del model, opt

mx.random.seed(99)
model = BaseLM()
model.load_weights(os.path.join(ckdir, "model.safetensors"))
opt = optim.Adam(learning_rate=schedule())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
with open(os.path.join(ckdir, "meta.json")) as f:
    meta = json.load(f)
rng.bit_generator.state = meta["rng"]
mx.eval(model.parameters(), opt.state)
print(f"# session 2 resumed at step {meta['step']}, optimizer step {opt.state['step'].item()}, "
      f"valid_ll {valid_loglik(model):.4f}")
key = train(model, opt, meta["step"] + 1, 200, t0, key)
print(f"# done, valid_ll {valid_loglik(model):.4f} nats/base, {time.time() - t0:.1f}s")
