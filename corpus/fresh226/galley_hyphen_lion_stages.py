# Typesetting shop: learn where a compositor may hyphenate a word.
# Letters are synthetic; the house rules are
#   stage "short": break inside V|CV (vowel, then consonant+vowel)
#   stage "long" : also break between doubled consonants VC|CV, longer words
# Logged as JSON lines; the step counter restarts each stage, lr warms up from 0.
import json, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

VOW = list("aeiou")
CON = list("bcdfgklmnprstvz")
ALPHA = VOW + CON
IDX = {c: i + 1 for i, c in enumerate(ALPHA)}  # 0 = pad
rng = np.random.default_rng(7)
mx.random.seed(7)
L = 16

def make_word(lo, hi, doubles):
    n = rng.integers(lo, hi + 1)
    w, prev_v = [], bool(rng.integers(0, 2))
    while len(w) < n:
        if prev_v:
            c = CON[rng.integers(len(CON))]
            w.append(c)
            if doubles and rng.random() < 0.3 and len(w) < n:
                w.append(c)
            prev_v = False
        else:
            w.append(VOW[rng.integers(5)]); prev_v = True
    return w[:n]

def breaks(w, doubles):
    y = np.zeros(L, np.float32)
    for i in range(1, len(w) - 1):
        if w[i - 1] in VOW and w[i] in CON and w[i + 1] in VOW:
            y[i - 1] = 1.0              # hyphen after position i-1
        if doubles and i + 1 < len(w) and w[i] == w[i + 1] and w[i] in CON and w[i - 1] in VOW:
            y[i] = 1.0
    return y

def batch(n, lo, hi, doubles):
    X = np.zeros((n, L), np.int32); Y = np.zeros((n, L), np.float32); M = np.zeros((n, L), np.float32)
    for k in range(n):
        w = make_word(lo, hi, doubles)
        X[k, :len(w)] = [IDX[c] for c in w]
        Y[k] = breaks(w, doubles)
        M[k, :len(w) - 1] = 1.0
    return mx.array(X), mx.array(Y), mx.array(M)

class Compositor(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(len(ALPHA) + 1, 24)
        self.c1 = nn.Conv1d(24, 48, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(48, 48, kernel_size=3, padding=1)
        self.head = nn.Linear(48, 1)
    def __call__(self, x):
        h = nn.relu(self.c1(self.emb(x)))
        h = nn.relu(self.c2(h)) + h
        return self.head(h).squeeze(-1)

def masked_bce(model, x, y, m):
    z = model(x)
    l = nn.losses.binary_cross_entropy(z, y, with_logits=True, reduction="none")
    return (l * m).sum() / m.sum()

def f1(model, x, y, m):
    p = (model(x) > 0).astype(mx.float32) * m
    tp = (p * y).sum(); fp = (p * (1 - y)).sum(); fn = ((1 - p) * y * m).sum()
    return (2 * tp / mx.maximum(2 * tp + fp + fn, 1)).item() * 100

model = Compositor()
grad_fn = nn.value_and_grad(model, masked_bce)

# every weight must see gradient before we commit to a run
xb, yb, mb = batch(64, 4, 7, False)
_, g0 = grad_fn(model, xb, yb, mb)
for k, v in tree_flatten(g0):
    assert mx.abs(v).sum().item() > 0, k

stages = [("short", 4, 7, False, 160), ("long", 8, 16, True, 200)]
t0 = time.time()
for name, lo, hi, dbl, steps in stages:
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 8e-4, 40), optim.cosine_decay(8e-4, steps - 40, 5e-5)], [40])
    opt = optim.Lion(learning_rate=sched, weight_decay=0.01)
    xv, yv, mv = batch(512, lo, hi, dbl)
    xp, yp, mp = batch(2048, lo, hi, dbl)   # training pool for this stage
    # baseline: hyphenate before every consonant that follows a vowel (ignores the next letter)
    xn = np.array(xv)
    guess = np.zeros_like(np.array(yv))
    for r in range(xn.shape[0]):
        for i in range(1, L):
            if xn[r, i] > 5 and 0 < xn[r, i - 1] <= 5:
                guess[r, i - 1] = 1
    gm = mx.array(guess) * mv
    tp = (gm * yv).sum(); fp = (gm * (1 - yv)).sum(); fn = ((1 - gm) * yv * mv).sum()
    f1_base = (2 * tp / (2 * tp + fp + fn)).item() * 100
    for step in range(steps + 1):
        pick = mx.array(rng.integers(0, 2048, 96))
        x, y, m = xp[pick], yp[pick], mp[pick]
        lr_now = float(sched(mx.array(step)))
        loss, g = grad_fn(model, x, y, m)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 40 == 0:
            rec = {"stage": name, "step": step, "lr": round(lr_now, 7),
                   "bce": round(loss.item(), 4),
                   "val_bce": round(masked_bce(model, xv, yv, mv).item(), 4),
                   "val_f1_pct": round(f1(model, xv, yv, mv), 2),
                   "rule_of_thumb_f1_pct": round(f1_base, 2)}
            print(json.dumps(rec), flush=True)
print(json.dumps({"done": True, "wall_s": round(time.time() - t0, 1)}))
