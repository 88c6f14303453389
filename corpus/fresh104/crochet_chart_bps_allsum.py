"""Next-stitch model for written crochet patterns.

Patterns come from a small stochastic grammar (rounds of a granny square, rows
of a blanket, amigurumi increase rounds), tokenised by stitch.  A context of
the previous 10 tokens predicts the next one.  Loss is reported in bits per
stitch token.

Written so the same script runs under `mlx.launch` on several hosts: the
gradients go through mx.distributed.all_sum and are divided by the group
size.  Run plainly it is a group of one.
"""
import math
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

VOCAB = ["<s>", "ch", "sc", "hdc", "dc", "tr", "sl", "inc", "dec",
         "[", "]", "x2", "x3", "x6", "rep", ",", "turn", "fo", "end"]
TOK = {t: i for i, t in enumerate(VOCAB)}
CTX = 10


def granny_round(rng):
    k = int(rng.integers(1, 4))
    out = ["ch", "x3" if k == 1 else "x2"]
    for _ in range(k):
        out += ["[", "dc", "x3", ",", "ch", "x2", ",", "dc", "x3", "]"]
        out += ["ch", "rep"]
    out += ["sl", "turn"]
    return out


def blanket_row(rng):
    st = rng.choice(["sc", "hdc", "dc"])
    out = ["ch", "x2" if st != "dc" else "x3"]
    n = int(rng.integers(2, 6))
    for _ in range(n):
        if rng.random() < 0.7:
            out += [st, ","]
        else:
            out += ["[", st, ",", "ch", "]", "rep"]
    out += ["turn"]
    return out


def ami_round(rng):
    n = int(rng.integers(1, 4))
    out = []
    for _ in range(n):
        out += ["[", "sc", "x" + str(int(rng.choice([2, 3]))), ",", "inc", "]", "x6"]
    if rng.random() < 0.3:
        out += ["dec", "x6"]
    out += ["sl"]
    return out


def pattern(rng):
    kind = rng.integers(0, 3)
    maker = (granny_round, blanket_row, ami_round)[kind]
    toks = ["<s>"]
    for _ in range(int(rng.integers(2, 6))):
        toks += maker(rng)
    toks += ["fo", "end"]
    return toks


def windows(rng, n_patterns):
    xs, ys = [], []
    for _ in range(n_patterns):
        ids = [TOK[t] for t in pattern(rng)]
        padded = [0] * CTX + ids
        for j in range(CTX, len(padded)):
            xs.append(padded[j - CTX:j])
            ys.append(padded[j])
    return np.array(xs, dtype=np.int32), np.array(ys, dtype=np.int32)


class StitchLM(nn.Module):
    def __init__(self, vocab, ctx, dim=24, hidden=128):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.pos = mx.zeros((ctx, dim))
        self.fc1 = nn.Linear(ctx * dim, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, vocab)

    def __call__(self, x):
        h = self.emb(x) + self.pos
        h = h.reshape(h.shape[0], -1)
        h = nn.gelu(self.fc1(h))
        h = h + nn.gelu(self.fc2(h))
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def bar(frac, width=30):
    k = int(round(frac * width))
    return "[" + "#" * k + "." * (width - k) + "]"


def evaluate(model, X, Y, bs=2048):
    tot, hit = 0.0, 0
    for i in range(0, len(X), bs):
        xb, yb = mx.array(X[i:i + bs]), mx.array(Y[i:i + bs])
        logits = model(xb)
        l = nn.losses.cross_entropy(logits, yb, reduction="sum")
        h = (mx.argmax(logits, axis=-1) == yb).sum()
        mx.eval(l, h)
        tot += l.item()
        hit += h.item()
    return tot / len(X) / math.log(2), 100.0 * hit / len(X)


def main():
    group = mx.distributed.init()
    world, rank = group.size(), group.rank()
    rng = np.random.default_rng(1234 + rank)
    Xtr, Ytr = windows(rng, 600)
    Xva, Yva = windows(np.random.default_rng(99), 150)
    mx.random.seed(7)

    model = StitchLM(len(VOCAB), CTX)
    mx.eval(model.parameters())

    epochs, bs = 5, 128
    steps_per_epoch = len(Xtr) // bs
    total = epochs * steps_per_epoch
    warm = 100
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm),
         optim.cosine_decay(2e-3, total - warm, 1e-4)],
        [warm])
    opt = optim.Adam(learning_rate=sched)

    vg = nn.value_and_grad(model, loss_fn)

    def reduce_grads(g):
        # average the gradients over the group (a no-op on one process)
        return tree_map(lambda a: mx.distributed.all_sum(a, group=group) / world, g)

    uni = math.log2(len(VOCAB))
    va_bits, va_acc = evaluate(model, Xva, Yva)
    print(f"world={world} rank={rank} | train windows {len(Xtr)} | valid windows {len(Xva)}"
          f" | vocab {len(VOCAB)} (uniform {uni:.3f} bits/stitch)")
    print(f"untrained: valid {va_bits:.3f} bits/stitch, top-1 {va_acc:.1f}%")

    # wiring check before training
    _, g0 = vg(model, mx.array(Xtr[:bs]), mx.array(Ytr[:bs]))
    g0 = reduce_grads(g0)
    leaves = tree_flatten(g0)
    dead = [k for k, v in leaves if mx.abs(v).max().item() == 0.0]
    print(f"grad check: {len(leaves)} leaves, zero-gradient leaves: {dead or 'none'}")

    Xtr_mx, Ytr_mx = mx.array(Xtr), mx.array(Ytr)
    step = 0
    t0 = time.perf_counter()
    for ep in range(1, epochs + 1):
        perm = np.random.default_rng(ep + 100 * rank).permutation(len(Xtr))
        run_bits, run_n = 0.0, 0
        for b in range(steps_per_epoch):
            idx = mx.array(perm[b * bs:(b + 1) * bs])
            xb, yb = Xtr_mx[idx], Ytr_mx[idx]
            lr_now = float(sched(step))
            loss, grads = vg(model, xb, yb)
            grads = reduce_grads(grads)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            step += 1
            run_bits += loss.item() / math.log(2)
            run_n += 1
            if b % 10 == 0 or b == steps_per_epoch - 1:
                sys.stdout.write(
                    f"\repoch {ep}/{epochs} {bar((b + 1) / steps_per_epoch)} "
                    f"{b + 1:4d}/{steps_per_epoch} lr {lr_now:.2e} "
                    f"train {run_bits / run_n:.3f} bits/stitch")
                sys.stdout.flush()
        va_bits, va_acc = evaluate(model, Xva, Yva)
        sys.stdout.write(
            f"\repoch {ep}/{epochs} {bar(1.0)} done  train {run_bits / run_n:.3f} | "
            f"valid {va_bits:.3f} bits/stitch | top-1 {va_acc:.1f}% | "
            f"{time.perf_counter() - t0:.1f}s{' ' * 10}\n")
    print(f"finished {step} steps; valid {va_bits:.3f} bits/stitch "
          f"(uniform guess {uni:.3f}), top-1 {va_acc:.1f}%")


if __name__ == "__main__":
    main()
