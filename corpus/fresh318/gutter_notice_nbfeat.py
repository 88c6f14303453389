"""Council noise/maintenance complaint triage: is a complaint actionable?

Binary text classification on synthetic complaint notes.  Features are
binarised unigram+bigram presence scaled by a naive-Bayes log-count ratio
(NBSVM style), fed to a single linear unit that starts from all-zero weights.
Training is silent; the run history is drawn at the end as an ASCII chart.
"""
import math
import random
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(318)
np.random.seed(318)
mx.random.seed(318)

ACTION = ["blocked", "leak", "snapped", "sparking", "flooded", "collapsed", "cracked",
          "exposed", "overflowing", "jammed", "smoke", "hazard"]
VENT = ["annoyed", "again", "maybe", "whatever", "tired", "honestly", "someone",
        "complain", "noisy", "ugly", "slow", "rude"]
FILLER = ["the", "near", "street", "drain", "lamp", "bin", "park", "since", "monday",
          "corner", "outside", "school", "bus", "stop", "path", "by", "our", "house",
          "is", "a", "very", "it", "there", "on", "at"]
NEG = ["not", "no", "never"]


def make_note():
    words, score = [], 0.0
    for _ in range(random.randint(6, 16)):
        u = random.random()
        if u < 0.16:
            w = random.choice(ACTION)
            if random.random() < 0.18:
                words.append(random.choice(NEG))
                score -= 1.0
            else:
                score += 1.0
            words.append(w)
        elif u < 0.34:
            words.append(random.choice(VENT))
            score -= 0.45
        else:
            words.append(random.choice(FILLER))
    label = 1 if score + random.gauss(0, 0.6) > 0.4 else 0
    if random.random() < 0.08:          # clerical mislabels
        label = 1 - label
    return words, label


def grams(words):
    return set(words) | {a + "_" + b for a, b in zip(words, words[1:])}


notes = [make_note() for _ in range(6000)]
train, valid = notes[:4800], notes[4800:]

counts = {}
for w, _ in train:
    for g in grams(w):
        counts[g] = counts.get(g, 0) + 1
vocab = sorted(g for g, c in counts.items() if c >= 25)
index = {g: i for i, g in enumerate(vocab)}


def featurise(rows):
    x = np.zeros((len(rows), len(vocab)), dtype=np.float32)
    y = np.zeros((len(rows),), dtype=np.float32)
    for i, (w, lab) in enumerate(rows):
        for g in grams(w):
            j = index.get(g)
            if j is not None:
                x[i, j] = 1.0
        y[i] = lab
    return x, y


xtr, ytr = featurise(train)
xva, yva = featurise(valid)

alpha = 1.0
p = alpha + xtr[ytr == 1].sum(0)
q = alpha + xtr[ytr == 0].sum(0)
r = np.log((p / p.sum()) / (q / q.sum())).astype(np.float32)

Xtr, Ytr = mx.array(xtr * r), mx.array(ytr)
Xva, Yva = mx.array(xva * r), mx.array(yva)
prior = float(ytr.mean())
prior_bits = -(prior * math.log(prior) + (1 - prior) * math.log(1 - prior))


class Triage(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.read = nn.Linear(d, 1)
        self.read.weight = mx.zeros_like(self.read.weight)
        self.read.bias = mx.zeros_like(self.read.bias)

    def __call__(self, x):
        return self.read(x).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y, reduction="mean")


def mcc(logits, y):
    pred = (np.array(logits) > 0).astype(np.int64)
    y = y.astype(np.int64)
    tp = int(((pred == 1) & (y == 1)).sum()); tn = int(((pred == 0) & (y == 0)).sum())
    fp = int(((pred == 1) & (y == 0)).sum()); fn = int(((pred == 0) & (y == 1)).sum())
    den = math.sqrt(max((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn), 1))
    return (tp * tn - fp * fn) / den


model = Triage(len(vocab))
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=0.004, weight_decay=0.05)
step_fn = nn.value_and_grad(model, loss_fn)

print(f"notes: train {len(train)}  valid {len(valid)}  grams kept {len(vocab)}  "
      f"actionable share {prior:.3f}  prior-only loss {prior_bits:.4f} nats")

history = []
t0 = time.perf_counter()
v0 = loss_fn(model, Xva, Yva).item()
history.append((0, float("nan"), v0, mcc(model(Xva), yva)))
for epoch in range(1, 13):
    perm = np.random.permutation(len(train))
    run, nb = 0.0, 0
    for s in range(0, len(perm), 128):
        ids = mx.array(perm[s:s + 128])
        loss, grads = step_fn(model, Xtr[ids], Ytr[ids])
        if epoch == 1 and s == 0:
            g = grads["read"]["weight"]
            nz = int((g != 0).sum().item())
            first_grad = (nz, g.size, float(mx.abs(g).max().item()))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item(); nb += 1
    vl = loss_fn(model, Xva, Yva).item()
    history.append((epoch, run / nb, vl, mcc(model(Xva), yva)))
secs = time.perf_counter() - t0

print(f"first minibatch: nonzero weight-gradient entries {first_grad[0]}/{first_grad[1]}, "
      f"max |g| {first_grad[2]:.4f}")
print("epoch  train   valid   mcc     valid loss (each # = 0.01 nats above 0.25)")
for e, tr, vl, m in history:
    bar = "#" * max(0, int(round((vl - 0.25) / 0.01)))
    trs = "  --  " if math.isnan(tr) else f"{tr:.4f}"
    print(f"{e:5d}  {trs}  {vl:.4f}  {m:+.3f}  {bar}")

w = model.read.weight
beta = 0.25
w_interp = (1 - beta) * mx.mean(mx.abs(w)) + beta * w
logit_i = (Xva @ w_interp.T).squeeze(-1) + model.read.bias
print(f"interpolated read-out (beta {beta}): valid mcc {mcc(logit_i, yva):+.3f} "
      f"vs plain {history[-1][3]:+.3f}")
top = np.argsort(-np.array(w[0]))[:6]
print("strongest actionable grams:", ", ".join(vocab[i] for i in top))
print(f"done in {secs:.1f}s")
