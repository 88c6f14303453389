# Character model of guitar tablature lines ("e|--3--5h7--0--|").
# Curriculum: the first 900 steps see only plain single-note riffs; after that
# the full mix with hammer-ons, pull-offs, bends, slides and muted strings is
# switched on, so the training bits-per-character JUMPS UP at the switch and
# then comes down again.
# Optimiser: Adam written by hand over tree_flatten / tree_unflatten, with a
# linear warm-up that starts at lr 0.  Output: CSV rows on stdout.
import csv
import math
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten

CTX = 8
rng = np.random.default_rng(2024)
mx.random.seed(2024)

STRINGS = "eBGDAE"


def plain_row():
    string = STRINGS[rng.integers(0, 6)]
    root = int(rng.integers(0, 10))
    notes = [str(root + int(rng.choice([0, 2, 3, 5]))) for _ in range(rng.integers(3, 7))]
    return f"{string}|--" + "--".join(notes) + "--|\n"


def fancy_note(fret):
    r = rng.random()
    if r < 0.15:
        return f"{fret}h{fret + 2}"
    if r < 0.30:
        return f"{fret + 2}p{fret}"
    if r < 0.42:
        return f"{fret}b{fret + 2}"
    if r < 0.54:
        return f"{fret}/{fret + 2}"
    if r < 0.62:
        return "x"
    return str(fret)


def fancy_row():
    string = STRINGS[rng.integers(0, 6)]
    root = int(rng.integers(0, 12))
    notes = [fancy_note(root + int(rng.choice([0, 2, 3, 5, 7])))
             for _ in range(rng.integers(3, 8))]
    sep = "-" if rng.random() < 0.5 else "--"
    return f"{string}|{sep}" + sep.join(notes) + f"{sep}|\n"


def corpus(n_rows, fancy_share):
    return "".join(fancy_row() if rng.random() < fancy_share else plain_row()
                   for _ in range(n_rows))


text_plain = corpus(3000, 0.0)
text_full = corpus(3000, 0.6)
val_plain = corpus(300, 0.0)
val_full = corpus(300, 0.6)
vocab = sorted(set(text_plain + text_full + val_plain + val_full))
stoi = {c: i for i, c in enumerate(vocab)}
V = len(vocab)


def windows(text):
    ids = np.array([stoi[c] for c in text], dtype=np.int32)
    idx = np.arange(CTX)[None, :] + np.arange(len(ids) - CTX)[:, None]
    return ids[idx], ids[CTX:]


class CharMLP(nn.Module):
    def __init__(self, vocab_size, dim=16, hidden=128):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, dim)
        self.fc = nn.Linear(CTX * dim, hidden)
        self.out = nn.Linear(hidden, vocab_size)

    def __call__(self, x):
        h = self.emb(x).reshape(x.shape[0], -1)
        return self.out(mx.tanh(self.fc(h)))


def nll_nats(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


class HandAdam:
    """Adam over the flattened parameter list; state kept as two flat lists."""

    def __init__(self, params, peak_lr, warmup, b1=0.9, b2=0.999, eps=1e-8):
        flat = tree_flatten(params)
        self.keys = [k for k, _ in flat]
        self.m = [mx.zeros_like(v) for _, v in flat]
        self.v = [mx.zeros_like(v) for _, v in flat]
        self.peak, self.warmup = peak_lr, warmup
        self.b1, self.b2, self.eps, self.t = b1, b2, eps, 0

    def lr(self):
        return self.peak * min(1.0, self.t / self.warmup)   # lr 0 at t=0

    def step(self, model, grads):
        lr = self.lr()
        self.t += 1
        g = dict(tree_flatten(grads))
        p = dict(tree_flatten(model.trainable_parameters()))
        c1 = 1 - self.b1 ** self.t
        c2 = 1 - self.b2 ** self.t
        new = []
        for i, k in enumerate(self.keys):
            self.m[i] = self.b1 * self.m[i] + (1 - self.b1) * g[k]
            self.v[i] = self.b2 * self.v[i] + (1 - self.b2) * mx.square(g[k])
            upd = (self.m[i] / c1) / (mx.sqrt(self.v[i] / c2) + self.eps)
            new.append((k, p[k] - lr * upd))
        model.update(tree_unflatten(new))
        return lr


def bpc(model, X, Y, bs=4096):
    tot = 0.0
    for i in range(0, X.shape[0], bs):
        tot += nn.losses.cross_entropy(model(X[i:i + bs]), Y[i:i + bs],
                                       reduction="sum").item()
    return tot / X.shape[0] / math.log(2)


def main():
    Xp, Yp = (mx.array(a) for a in windows(text_plain))
    Xf, Yf = (mx.array(a) for a in windows(text_plain[: len(text_plain) // 2] + text_full))
    VXp, VYp = (mx.array(a) for a in windows(val_plain))
    VXf, VYf = (mx.array(a) for a in windows(val_full))
    print(f"# vocab {V} chars, context {CTX}; uniform = {math.log2(V):.3f} bits/char")
    print(f"# windows: plain-only {Xp.shape[0]}, full mix {Xf.shape[0]}, "
          f"val plain {VXp.shape[0]}, val full {VXf.shape[0]}")

    model = CharMLP(V)
    mx.eval(model.parameters())
    opt = HandAdam(model.trainable_parameters(), peak_lr=3e-3, warmup=60)
    loss_and_grad = nn.value_and_grad(model, nll_nats)

    _, g0 = loss_and_grad(model, Xp[:512], Yp[:512])
    flat = tree_flatten(g0)
    dead = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
    print(f"# first-step gradient: {len(flat)} leaves, zero leaves: {dead if dead else 'none'}")

    fields = ["phase", "step", "lr", "train_bpc", "val_bpc_plain", "val_bpc_full", "secs"]
    out = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
    out.writeheader()
    t0 = time.time()
    out.writerow(dict(phase="init", step=0, lr=f"{0.0:.2e}", train_bpc="",
                      val_bpc_plain=f"{bpc(model, VXp, VYp):.4f}",
                      val_bpc_full=f"{bpc(model, VXf, VYf):.4f}", secs="0.0"))

    switch, total, batch, every = 900, 2700, 128, 150
    window = []
    cursor, order, X, Y, phase = 0, None, Xp, Yp, "plain"
    for step in range(1, total + 1):
        if step == switch + 1:
            X, Y, phase, order = Xf, Yf, "full", None
        if order is None or cursor + batch > X.shape[0]:
            order, cursor = rng.permutation(X.shape[0]), 0
        idx = mx.array(order[cursor:cursor + batch])
        cursor += batch
        loss, grads = loss_and_grad(model, X[idx], Y[idx])
        lr = opt.step(model, grads)
        mx.eval(loss, model.parameters(), opt.m, opt.v)
        window.append(loss.item() / math.log(2))
        if step % every == 0:
            out.writerow(dict(phase=phase, step=step, lr=f"{lr:.2e}",
                              train_bpc=f"{np.mean(window):.4f}",
                              val_bpc_plain=f"{bpc(model, VXp, VYp):.4f}",
                              val_bpc_full=f"{bpc(model, VXf, VYf):.4f}",
                              secs=f"{time.time() - t0:.1f}"))
            window = []
    sys.stdout.flush()
    print(f"# done: {total} steps; curriculum switch after step {switch}; "
          f"train_bpc is over the current phase's rows")


if __name__ == "__main__":
    main()
