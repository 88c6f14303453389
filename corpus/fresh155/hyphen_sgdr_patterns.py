# Learn where a made-up language may be hyphenated (TeX-style, with
# left/right hyphen minimums), from character windows. SGD + Nesterov with
# cosine warm restarts; keep the best checkpoint by validation F1.
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

CONS = "bdfgklmnprstvz"
VOWS = "aeiou"
ALPHA = CONS + VOWS
CID = {c: i + 1 for i, c in enumerate(ALPHA)}  # 0 = pad
MAXLEN = 16
LEFTMIN, RIGHTMIN = 2, 3

rng = random.Random(11)


def make_word():
    sylls = []
    for _ in range(rng.randint(2, 5)):
        s = rng.choice(CONS) + rng.choice(VOWS)
        if rng.random() < 0.4:
            s += rng.choice(CONS)
        sylls.append(s)
    w = "".join(sylls)
    if len(w) > MAXLEN:
        return None
    breaks = set()
    pos = 0
    for s in sylls[:-1]:
        pos += len(s)
        if pos >= LEFTMIN and len(w) - pos >= RIGHTMIN:
            breaks.add(pos - 1)  # hyphen allowed after char index pos-1
    # dictionary exceptions: a few entries flipped at random
    for i in range(len(w) - 1):
        if rng.random() < 0.02:
            breaks ^= {i}
    return w, breaks


def build(n):
    words = []
    while len(words) < n:
        r = make_word()
        if r:
            words.append(r)
    X = [[CID[c] for c in w] + [0] * (MAXLEN - len(w)) for w, _ in words]
    Y = [[1.0 if i in b else 0.0 for i in range(MAXLEN)] for w, b in words]
    M = [[1.0 if i < len(w) - 1 else 0.0 for i in range(MAXLEN)] for w, _ in words]
    return words, mx.array(X), mx.array(Y), mx.array(M)


train_words, Xtr, Ytr, Mtr = build(3000)
val_words, Xva, Yva, Mva = build(600)


def plain_rule(words):
    # rule of thumb: break before any consonant that is followed by a vowel
    tp = fp = fn = 0
    for w, b in words:
        for i in range(len(w) - 1):
            guess = i + 2 < len(w) and w[i + 1] in CONS and w[i + 2] in VOWS
            tp += guess and i in b
            fp += guess and i not in b
            fn += (not guess) and i in b
    return 200.0 * tp / (2 * tp + fp + fn)


class Hyphenator(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(len(ALPHA) + 1, 16)
        self.c1 = nn.Conv1d(16, 48, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(48, 48, kernel_size=3, padding=1)
        self.head = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.relu(self.c1(self.emb(x)))
        h = nn.relu(self.c2(h))
        return self.head(h).squeeze(-1)


def badness(model, X, Y, M):
    per = nn.losses.binary_cross_entropy(model(X), Y, reduction="none")
    return (per * M).sum() / M.sum()


def f1(model, X, Y, M):
    pred = (model(X) > 0).astype(mx.float32) * M
    tp = (pred * Y * M).sum()
    fp = (pred * (1 - Y)).sum()
    fn = ((1 - pred) * Y * M).sum()
    return (200.0 * tp / (2 * tp + fp + fn)).item()


mx.random.seed(11)
model = Hyphenator()
opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True)
grad_fn = nn.value_and_grad(model, badness)

PEAK, CYCLE, NCYC, WARM, B = 0.08, 150, 4, 25, 64
ref = plain_rule(val_words)
print(f"This is hyphen-patgen, {len(train_words)} words / {len(val_words)} held out")
print(f"\\lefthyphenmin={LEFTMIN} \\righthyphenmin={RIGHTMIN}  plain-rule F1 {ref:.1f}%")

best = (-1.0, None, None)
patience, bad_evals = 9, 0
gstep = 0
stopped = False
for cyc in range(NCYC):
    for t in range(CYCLE):
        if cyc == 0 and t < WARM:
            lr = PEAK * t / WARM  # starts at exactly 0
        else:
            lr = PEAK * 0.5 * (1 + math.cos(math.pi * t / CYCLE))
        opt.learning_rate = lr
        idx = mx.array(rng.sample(range(Xtr.shape[0]), B))
        loss, g = grad_fn(model, Xtr[idx], Ytr[idx], Mtr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        gstep += 1
        if t % 30 == 29:
            vb = badness(model, Xva, Yva, Mva).item()
            vf = f1(model, Xva, Yva, Mva)
            mark = ""
            if vf > best[0]:
                best = (vf, gstep, dict(tree_flatten(model.parameters())))
                bad_evals = 0
                mark = " *"
            else:
                bad_evals += 1
            print(f"[{cyc + 1}.{t + 1:03d}] lr={lr:.4f} badness {loss.item() * 100:6.2f}/{vb * 100:6.2f}"
                  f"  F1 {vf:5.1f}% (plain {ref:.1f}%){mark}")
            if bad_evals >= patience:
                print(f"! no F1 gain in {patience} checks, stopping at step {gstep}")
                stopped = True
                break
    if stopped:
        break
    print(f"-- restart {cyc + 1} -> lr back to {PEAK}")

model.update(tree_unflatten(list(best[2].items())))
vf = f1(model, Xva, Yva, Mva)
vb = badness(model, Xva, Yva, Mva).item()
print(f"Output written: best of step {best[1]}, restored F1 {vf:.1f}% (was {best[0]:.1f}%), badness {vb * 100:.2f}")
sample = ["".join(ALPHA[i - 1] for i in row if i) for row in Xva[:4].tolist()]
pred = (model(Xva[:4]) > 0).tolist()
for w, p in zip(sample, pred):
    print("  " + "".join(c + ("-" if p[i] and i < len(w) - 1 else "") for i, c in enumerate(w)))
