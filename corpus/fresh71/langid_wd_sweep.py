"""Language ID of short made-up words with a hashed character-bigram bag model.

Four toy "languages", each a first-order Markov chain over the same 12 letters.
Words are featurised as a bag of hashed character bigrams (with word-boundary
markers), embedded and summed, then a linear layer picks the language.

We sweep AdamW weight decay: one fresh model per setting, trained quietly,
scored on the validation split. The best setting is refit on train+valid and
scored once on the test split. Everything is printed at the end.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

LETTERS = "abdeiklmnorsu"
N_LANG = 4
BUCKETS = 211
MAX_BIGRAMS = 14
PAD = BUCKETS  # extra embedding row that is masked out

rng = np.random.default_rng(7)


def make_language(seed):
    r = np.random.default_rng(seed)
    n = len(LETTERS)
    trans = r.dirichlet(np.full(n, 0.35), size=n)
    start = r.dirichlet(np.full(n, 0.5))
    return start, trans


LANGS = [make_language(100 + k) for k in range(N_LANG)]


def sample_word(lang):
    start, trans = LANGS[lang]
    length = rng.integers(3, 10)
    i = rng.choice(len(LETTERS), p=start)
    out = [LETTERS[i]]
    for _ in range(length - 1):
        i = rng.choice(len(LETTERS), p=trans[i])
        out.append(LETTERS[i])
    return "".join(out)


def featurise(word):
    s = "^" + word + "$"
    ids = [(ord(a) * 31 + ord(b) * 7) % BUCKETS for a, b in zip(s, s[1:])]
    ids = ids[:MAX_BIGRAMS]
    return ids + [PAD] * (MAX_BIGRAMS - len(ids))


def make_split(n):
    y = rng.integers(0, N_LANG, size=n)
    X = np.array([featurise(sample_word(int(l))) for l in y], dtype=np.int32)
    return mx.array(X), mx.array(y.astype(np.int32))


class BagClassifier(nn.Module):
    def __init__(self, dim=64):
        super().__init__()
        self.emb = nn.Embedding(BUCKETS + 1, dim)
        self.hid = nn.Linear(dim, 64)
        self.out = nn.Linear(64, N_LANG)

    def __call__(self, ids):
        mask = (ids != PAD).astype(mx.float32)[..., None]
        h = (self.emb(ids) * mask).sum(axis=1) / mask.sum(axis=1)
        return self.out(nn.relu(self.hid(h)))


def loss_fn(model, X, y):
    return nn.losses.cross_entropy(model(X), y, reduction="mean")


def evaluate(model, X, y):
    logits = model(X)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    acc = (mx.argmax(logits, axis=1) == y).astype(mx.float32).mean()
    mx.eval(ce, acc)
    return ce.item(), acc.item()


def train(X, y, wd, epochs=10, bs=64, seed=0, audit=None):
    mx.random.seed(seed)
    model = BagClassifier()
    opt = optim.AdamW(learning_rate=0.005, weight_decay=wd)
    step = nn.value_and_grad(model, loss_fn)
    order_rng = np.random.default_rng(seed)
    n = X.shape[0]
    first = True
    for _ in range(epochs):
        perm = mx.array(order_rng.permutation(n).astype(np.int32))
        for s in range(0, n - bs + 1, bs):
            idx = perm[s:s + bs]
            loss, grads = step(model, X[idx], y[idx])
            if first and audit is not None:
                leaves = tree_flatten(grads)
                audit["leaves"] = len(leaves)
                audit["zero"] = sum(1 for _, g in leaves if mx.abs(g).max().item() == 0.0)
                audit["loss0"] = loss.item()
                first = False
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
    return model


def main():
    t0 = time.time()
    Xtr, ytr = make_split(12000)
    Xva, yva = make_split(3000)
    Xte, yte = make_split(3000)
    prep = time.time() - t0

    sweep = [0.0, 1e-3, 1e-2, 1e-1, 0.5]
    rows = []
    audit = {}
    for k, wd in enumerate(sweep):
        t = time.time()
        model = train(Xtr, ytr, wd, audit=audit if k == 0 else None)
        tr_ce, tr_acc = evaluate(model, Xtr, ytr)
        va_ce, va_acc = evaluate(model, Xva, yva)
        rows.append((wd, tr_ce, tr_acc, va_ce, va_acc, time.time() - t))

    best = min(rows, key=lambda r: r[3])
    t = time.time()
    Xall = mx.concatenate([Xtr, Xva])
    yall = mx.concatenate([ytr, yva])
    final = train(Xall, yall, best[0], seed=1)
    te_ce, te_acc = evaluate(final, Xte, yte)
    refit_s = time.time() - t

    print(f"data: train={Xtr.shape[0]} valid={Xva.shape[0]} test={Xte.shape[0]} "
          f"languages={N_LANG} buckets={BUCKETS} prep={prep:.1f}s")
    print(f"chance cross-entropy = ln {N_LANG} = {math.log(N_LANG):.4f}")
    print(f"first-step gradient check (wd=0 run): {audit['leaves']} leaves, "
          f"{audit['zero']} all-zero, loss0={audit['loss0']:.4f}")
    print()
    print(f"{'weight_decay':>12} {'train_ce':>9} {'train_acc':>9} {'valid_ce':>9} {'valid_acc':>9} {'secs':>6}")
    for wd, a, b, c, d, s in rows:
        mark = "  <- best" if wd == best[0] else ""
        print(f"{wd:>12g} {a:>9.4f} {b:>9.3f} {c:>9.4f} {d:>9.3f} {s:>6.1f}{mark}")
    print()
    print(f"refit on train+valid with weight_decay={best[0]:g}: "
          f"test_ce={te_ce:.4f} test_acc={te_acc:.3f} ({refit_s:.1f}s)")
    print(f"total {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
