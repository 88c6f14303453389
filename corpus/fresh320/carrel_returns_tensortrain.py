"""Library returns desk: which shelving section does a returned book go to?

The book id lives in a 1,000,000-id space.  Instead of a full embedding table
it is embedded with a tensor-train (TT) factorised table: the id is split into
three base-100 digits and three small cores are contracted with mx.einsum.
Stage "fit": everything trains, Adam with two cosine cycles of the learning
rate (warm restart at epoch 6).  Stage "refit": four more branches start sending their
picture books to the children's section, so the rule shifts; the TT cores are
frozen on purpose and only the branch table and the head are refitted.
Each report is written as a small RFC 822 style message.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

N_SECTIONS = 12
N_BRANCH = 40
NOISE = 0.07
BATCH = 128
rng = np.random.default_rng(3201)

section_of_prefix = rng.integers(0, 10, 100)
large_print = np.zeros(100, bool)
large_print[rng.choice(100, 10, replace=False)] = True
kids_old = np.zeros(N_BRANCH, bool)
kids_old[rng.choice(N_BRANCH, 8, replace=False)] = True
kids_new = kids_old.copy()
kids_new[rng.choice(np.flatnonzero(~kids_old), 4, replace=False)] = True


def make_returns(n, kids):
    book = rng.integers(0, 1_000_000, n)
    branch = rng.integers(0, N_BRANCH, n)
    i1, i2, i3 = book // 10000, (book // 100) % 100, book % 100
    sec = section_of_prefix[i1].copy()
    sec[large_print[i2]] = 10
    sec[kids[branch] & (i3 >= 80)] = 11
    flip = rng.random(n) < NOISE
    sec[flip] = rng.integers(0, N_SECTIONS, flip.sum())
    return book.astype(np.int32), branch.astype(np.int32), sec.astype(np.int32)


p_true = 1 - NOISE + NOISE / N_SECTIONS
p_other = NOISE / N_SECTIONS
BAYES_XENT = -(p_true * math.log(p_true) + (N_SECTIONS - 1) * p_other * math.log(p_other))

fit_tr, fit_va = make_returns(60000, kids_old), make_returns(6000, kids_old)
refit_tr, refit_va = make_returns(12000, kids_new), make_returns(6000, kids_new)


class TTEmbedding(nn.Module):
    """1e6 x 16 table stored as three cores of rank 3."""

    def __init__(self, rank=3, dims=(2, 2, 4)):
        super().__init__()
        self.dims = dims
        r = rank
        self.g1 = 0.5 * mx.random.normal((100, dims[0], r))
        self.g2 = mx.random.normal((100, r, dims[1], r)) / math.sqrt(r)
        self.g3 = mx.random.normal((100, r, dims[2])) / math.sqrt(r)

    def __call__(self, ids):
        a = self.g1[ids // 10000]
        b = self.g2[(ids // 100) % 100]
        c = self.g3[ids % 100]
        e = mx.einsum("bxr,brys,bsz->bxyz", a, b, c)
        return e.reshape(ids.shape[0], -1)


class ShelfNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.tt = TTEmbedding()
        self.branch = nn.Embedding(N_BRANCH, 4)
        self.hidden = nn.Linear(16 + 4, 64)
        self.head = nn.Linear(64, N_SECTIONS)

    def __call__(self, book, branch):
        h = mx.concatenate([self.tt(book), self.branch(branch)], axis=-1)
        return self.head(nn.silu(self.hidden(h)))


def loss_fn(model, book, branch, y):
    return nn.losses.cross_entropy(model(book, branch), y, reduction="mean")


def val_stats(model, data):
    logits = model(mx.array(data[0]), mx.array(data[1]))
    y = mx.array(data[2])
    xent = nn.losses.cross_entropy(logits, y, reduction="mean").item()
    acc = mx.mean(mx.argmax(logits, axis=1) == y).item()
    return xent, acc


def prefix_lookup_acc(train, val):
    table = np.zeros((100, N_SECTIONS), np.int64)
    np.add.at(table, (train[0] // 10000, train[2]), 1)
    guess = table.argmax(1)[val[0] // 10000]
    return float(np.mean(guess == val[2]))


def message(subject, headers):
    print("From: shelver@returns-desk.invalid")
    print(f"Subject: {subject}")
    for k, v in headers.items():
        print(f"{k}: {v}")
    print()


def train_epochs(model, opt, data, val, epochs, lr_fn, stage):
    vg = nn.value_and_grad(model, loss_fn)
    steps = len(data[2]) // BATCH
    for ep in range(1, epochs + 1):
        perm = rng.permutation(len(data[2]))
        t0, tot = time.perf_counter(), 0.0
        for s in range(steps):
            opt.learning_rate = lr_fn(ep - 1 + s / steps)
            idx = perm[s * BATCH:(s + 1) * BATCH]
            loss, grads = vg(model, mx.array(data[0][idx]), mx.array(data[1][idx]), mx.array(data[2][idx]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        vx, va = val_stats(model, val)
        message(f"{stage} epoch {ep}/{epochs}", {
            "X-Stage": stage,
            "X-LR-End": f"{opt.learning_rate.item():.5f}",
            "X-Train-Xent": f"{tot / steps:.4f}",
            "X-Val-Xent": f"{vx:.4f}",
            "X-Val-Excess-Nats": f"{vx - BAYES_XENT:+.4f}",
            "X-Val-Acc-Pct": f"{100 * va:.2f}",
            "X-Seconds": f"{time.perf_counter() - t0:.2f}",
        })


mx.random.seed(3201)
model = ShelfNet()
mx.eval(model.parameters())

grads = nn.value_and_grad(model, loss_fn)(model, mx.array(fit_tr[0][:512]), mx.array(fit_tr[1][:512]),
                                          mx.array(fit_tr[2][:512]))[1]
norms = {k: f"{mx.linalg.norm(v).item():.3g}" for k, v in tree_flatten(grads)}
n_tt = sum(v.size for _, v in tree_flatten(model.tt.parameters()))
maj = float(np.mean(fit_va[2] == np.bincount(fit_tr[2], minlength=N_SECTIONS).argmax()))
message("setup", {
    "X-TT-Numbers": f"{n_tt} (a full 1000000x16 table would hold 16000000)",
    "X-Grad-Norms": "; ".join(f"{k}={v}" for k, v in norms.items()),
    "X-Bayes-Xent": f"{BAYES_XENT:.4f} (7% of returns reshelved at random)",
    "X-Baseline-Majority-Acc-Pct": f"{100 * maj:.2f}",
    "X-Baseline-Prefix-Lookup-Acc-Pct": f"{100 * prefix_lookup_acc(fit_tr, fit_va):.2f}",
})


def two_cycle_cosine(t, cycle=5, hi=0.01, lo=1e-4):
    u = (t % cycle) / cycle
    return lo + 0.5 * (hi - lo) * (1 + math.cos(math.pi * u))


opt = optim.AdamW(learning_rate=0.01, weight_decay=0.02)
train_epochs(model, opt, fit_tr, fit_va, 10, two_cycle_cosine, "fit")

vx_old, va_old = val_stats(model, refit_va)
message("rule change", {
    "X-Note": "four more branches route picture books to the children's section",
    "X-Val-Xent-On-New-Rule-Before-Refit": f"{vx_old:.4f}",
    "X-Val-Acc-Pct-On-New-Rule-Before-Refit": f"{100 * va_old:.2f}",
})

model.tt.freeze()
frozen_before = [v for _, v in tree_flatten(model.tt.parameters())]
opt2 = optim.Adam(learning_rate=3e-3)
train_epochs(model, opt2, refit_tr, refit_va, 3, lambda t: 3e-3 * (1 - t / 3) + 1e-4, "refit")
drift = max(mx.max(mx.abs(a - b)).item() for a, b in
            zip(frozen_before, [v for _, v in tree_flatten(model.tt.parameters())]))
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
vx, va = val_stats(model, refit_va)
message("done", {
    "X-TT-Core-Max-Abs-Change-In-Refit": f"{drift:.1e}",
    "X-Trainable-Numbers-In-Refit": str(n_train),
    "X-Final-Val-Xent": f"{vx:.4f}",
    "X-Final-Val-Acc-Pct": f"{100 * va:.2f}",
    "X-Ceiling-Acc-Pct": f"{100 * (1 - NOISE + NOISE / N_SECTIONS):.2f}",
})
