"""Contra-dance caller cards: pretrain a tiny causal transformer on a packed
stream of synthetic dance cards (A1/A2/B1/B2 phrases of 16 beats each).

Context length grows 16 -> 32 -> 64 tokens while the tokens per update stay
constant; gradients are accumulated over 4 micro-batches; the run is checkpointed
halfway, torn down, rebuilt from disk and resumed.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

FIGURES = {  # name -> beats
    "balance": 4, "pass_thru": 4, "slice": 4, "swing": 8, "circle_l": 8,
    "circle_r": 8, "allemande": 8, "do_si_do": 8, "long_lines": 8,
    "chain": 8, "star_r": 8, "star_l": 8, "promenade": 8, "gypsy": 8,
    "petronella": 8, "hey": 16, "mad_robin": 16,
}
PHRASES = ["A1", "A2", "B1", "B2"]
VOCAB = ["<bos>", "<eos>"] + PHRASES + list(FIGURES)
TOK = {w: i for i, w in enumerate(VOCAB)}
V = len(VOCAB)
MAX_CTX = 64


def make_card(rng):
    """One dance: four 16-beat phrases, B2 often ends with a balance+swing."""
    out = ["<bos>"]
    four = [f for f, b in FIGURES.items() if b == 4]
    eight = [f for f, b in FIGURES.items() if b == 8]
    sixteen = [f for f, b in FIGURES.items() if b == 16]
    for ph in PHRASES:
        out.append(ph)
        if ph == "B1" and rng.random() < 0.7:
            out += ["balance", "swing", rng.choice(four)] if rng.random() < 0.5 else ["balance", "swing"]
            left = 16 - sum(FIGURES[f] for f in out[out.index("B1") + 1:])
        else:
            left = 16
        while left > 0:
            opts = [f for f in four + eight + sixteen if FIGURES[f] <= left]
            f = opts[rng.integers(len(opts))]
            out.append(f)
            left -= FIGURES[f]
    out.append("<eos>")
    return [TOK[w] for w in out]


def make_stream(n_cards, seed):
    rng = np.random.default_rng(seed)
    ids = []
    for _ in range(n_cards):
        ids += make_card(rng)
    return np.array(ids, dtype=np.int32)


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.ff(self.ln2(x))


class CallerLM(nn.Module):
    def __init__(self, d=32, heads=2, layers=2):
        super().__init__()
        self.tok = nn.Embedding(V, d)
        self.pos = nn.Embedding(MAX_CTX, d)
        self.blocks = [Block(d, heads) for _ in range(layers)]
        self.ln = nn.LayerNorm(d)
        self.out = nn.Linear(d, V)

    def __call__(self, x):
        T = x.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        h = self.tok(x) + self.pos(mx.arange(T))
        for b in self.blocks:
            h = b(h, mask)
        return self.out(self.ln(h))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def windows(stream, L, n, rng):
    starts = rng.integers(0, len(stream) - L - 1, size=n)
    idx = starts[:, None] + np.arange(L + 1)[None, :]
    w = stream[idx]
    return mx.array(w[:, :-1]), mx.array(w[:, 1:])


def ngram_bits(train, val):
    uni = np.bincount(train, minlength=V) + 1.0
    uni /= uni.sum()
    big = np.ones((V, V))
    np.add.at(big, (train[:-1], train[1:]), 1.0)
    big /= big.sum(1, keepdims=True)
    u = -np.mean(np.log2(uni[val[1:]]))
    b = -np.mean(np.log2(big[val[:-1], val[1:]]))
    return u, b


def val_bits(model, val, L):
    n = (len(val) - 1) // L
    x = mx.array(val[: n * L].reshape(n, L))
    y = mx.array(val[1: n * L + 1].reshape(n, L))
    return loss_fn(model, x, y).item() / math.log(2)


def build(schedule):
    model = CallerLM()
    opt = optim.AdamW(learning_rate=schedule, weight_decay=0.01)
    return model, opt


def main():
    mx.random.seed(7)
    rng = np.random.default_rng(11)
    train = make_stream(6000, 1)
    val = make_stream(200, 2)
    uni_b, big_b = ngram_bits(train, val)
    print(f"ts=0.0 event=data train_tokens={len(train)} val_tokens={len(val)} vocab={V} "
          f"unigram_bits={uni_b:.3f} bigram_bits={big_b:.3f}")

    total, warm, micro, tokens_per_micro = 240, 25, 4, 256
    stages = [(0, 16), (80, 32), (160, 64)]
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm),
         optim.cosine_decay(3e-3, total - warm, 1e-4)], [warm])
    model, opt = build(sched)
    grad_fn = nn.value_and_grad(model, loss_fn)
    ckpt_dir = tempfile.mkdtemp()
    t0 = time.perf_counter()
    win, step = [], 0

    while step < total:
        L = [l for s, l in stages if step >= s][-1]
        if step in [s for s, _ in stages]:
            print(f"ts={time.perf_counter() - t0:.1f} event=stage step={step} ctx={L} "
                  f"windows_per_micro={tokens_per_micro // L} "
                  f"val_bits_at_ctx={val_bits(model, val, L):.3f}")
        n = tokens_per_micro // L
        acc, loss_sum = None, 0.0
        for _ in range(micro):
            x, y = windows(train, L, n, rng)
            loss, g = grad_fn(model, x, y)
            acc = g if acc is None else tree_map(mx.add, acc, g)
            loss_sum = loss_sum + loss
        acc = tree_map(lambda t: t / micro, acc)
        lr_now = opt.learning_rate.item()
        opt.update(model, acc)
        mx.eval(model.parameters(), opt.state, loss_sum)
        step += 1
        win.append(loss_sum.item() / micro / math.log(2))

        if step == 1:
            zero = [k for k, v in tree_flatten(acc) if mx.abs(v).max().item() == 0.0]
            print(f"ts={time.perf_counter() - t0:.1f} event=grad_check step=1 lr_used={lr_now:.2e} "
                  f"leaves={len(tree_flatten(acc))} zero_leaves={len(zero)}")
        if step % 20 == 0:
            print(f"ts={time.perf_counter() - t0:.1f} step={step} ctx={L} lr={opt.learning_rate.item():.2e} "
                  f"train_bits={np.mean(win):.3f} val_bits={val_bits(model, val, L):.3f} "
                  f"bigram_bits={big_b:.3f}")
            win = []

        if step == total // 2:
            wpath = os.path.join(ckpt_dir, "weights.safetensors")
            opath = os.path.join(ckpt_dir, "opt.safetensors")
            model.save_weights(wpath)
            mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
            before = val_bits(model, val, L)
            del model, opt, grad_fn
            model, opt = build(sched)
            model.load_weights(wpath)
            opt.state = tree_unflatten(list(mx.load(opath).items()))
            grad_fn = nn.value_and_grad(model, loss_fn)
            mx.eval(model.parameters(), opt.state)
            after = val_bits(model, val, L)
            print(f"ts={time.perf_counter() - t0:.1f} event=resume step={step} "
                  f"opt_step={int(opt.state['step'].item())} lr={opt.learning_rate.item():.2e} "
                  f"val_bits_before={before:.3f} val_bits_after={after:.3f}")

    final = val_bits(model, val, 64)
    print(f"ts={time.perf_counter() - t0:.1f} event=done steps={step} val_bits_ctx64={final:.3f} "
          f"bigram_bits={big_b:.3f} unigram_bits={uni_b:.3f} "
          f"gain_over_bigram={100 * (big_b - final) / big_b:.1f}%")


if __name__ == "__main__":
    main()
