"""Next token-TYPE prediction over the stdlib's own Python source (tokenize module
output: NAME, OP, NEWLINE, INDENT, ...), reported in bits per token."""
import argparse
import inspect
import io
import json
import math
import sys
import time
import tokenize
from collections import Counter

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

CTX = 8


def token_types():
    seq = []
    for mod in (json, argparse, tokenize):
        src = inspect.getsource(mod)
        for tok in tokenize.generate_tokens(io.StringIO(src).readline):
            seq.append(tokenize.tok_name[tok.exact_type if tok.type == tokenize.OP else tok.type])
    return seq


@mx.custom_function
def grad_scale(x, s):
    return x


@grad_scale.vjp
def grad_scale_vjp(primals, cotangent, output):
    _, s = primals
    return cotangent * s, mx.zeros_like(s)


class TypeLM(nn.Module):
    def __init__(self, vocab, dim=16, hidden=128):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.mlp = nn.Sequential(nn.Linear(CTX * dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.out = nn.Linear(hidden, vocab)
        self.emb_grad_scale = 4.0   # sparse embedding rows get few updates: boost their gradient

    def __call__(self, ctx):
        e = grad_scale(self.emb(ctx), mx.array(self.emb_grad_scale))
        return self.out(self.mlp(e.reshape(ctx.shape[0], -1)))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def bits(model, X, Y):
    return float(loss_fn(model, X, Y).item()) / math.log(2)


def main():
    t_start = time.time()
    seq = token_types()
    vocab = sorted(set(seq))
    ids = np.array([vocab.index(t) for t in seq], dtype=np.int32)
    win = np.lib.stride_tricks.sliding_window_view(ids, CTX + 1)
    split = int(0.9 * len(win))
    Xtr, Ytr = mx.array(win[:split, :CTX]), mx.array(win[:split, CTX])
    Xte, Yte = mx.array(win[split:, :CTX]), mx.array(win[split:, CTX])
    cnt = Counter(ids[:split].tolist())
    p = np.array([cnt[i] / split for i in range(len(vocab))])
    unigram_bits = float(-(np.log2(np.maximum(p[np.array(win[split:, CTX])], 1e-12))).mean())
    print(f"{len(seq)} tokens, {len(vocab)} token types, {split} train / {len(win) - split} test windows")
    print(f"baselines (bits/token, lower is better): uniform {math.log2(len(vocab)):.3f}, unigram {unigram_bits:.3f}")

    mx.random.seed(3)
    model = TypeLM(len(vocab))
    mx.eval(model.parameters())
    vg = nn.value_and_grad(model, loss_fn)
    _, g = vg(model, Xtr[:256], Ytr[:256])
    leaves = tree_flatten(g)
    print(f"gradient check: {len(leaves)} leaves, zero leaves: {[k for k, v in leaves if not mx.any(v != 0).item()]}")

    opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
    bs, epochs = 128, 4
    n = Xtr.shape[0]
    steps = n // bs
    print(f"epoch 0: test {bits(model, Xte, Yte):.3f} bits/token")
    for ep in range(1, epochs + 1):
        t0 = time.time()
        perm = mx.random.permutation(n)
        run = 0.0
        for s in range(steps):
            idx = perm[s * bs:(s + 1) * bs]
            loss, g = vg(model, Xtr[idx], Ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            if (s + 1) % 20 == 0 or s + 1 == steps:
                done = (s + 1) / steps
                bar = "#" * int(30 * done) + "." * (30 - int(30 * done))
                sys.stdout.write(f"\repoch {ep}/{epochs} [{bar}] {s + 1}/{steps} "
                                 f"train {run / (s + 1) / math.log(2):.3f} bits/token")
                sys.stdout.flush()
        acc = float(mx.mean(mx.argmax(model(Xte), -1) == Yte).item())
        sys.stdout.write(f"\repoch {ep}/{epochs} train {run / steps / math.log(2):.3f} bits/token | "
                         f"test {bits(model, Xte, Yte):.3f} bits/token | test top-1 {100 * acc:.1f}% | "
                         f"{time.time() - t0:.1f}s" + " " * 20 + "\n")
    print(f"done in {time.time() - t_start:.1f}s")


if __name__ == "__main__":
    main()
