"""Bridge bidding auctions: causal LM pretraining on synthetic auctions drawn
from a known stochastic bidder, so the exact entropy of the held-out auctions
is available as a floor. Two warm-restart cycles, compiled train step,
output head tied to the token embedding, label smoothing.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial

from mlx.utils import tree_flatten

STRAINS = ["C", "D", "H", "S", "N"]
BIDS = [f"{lv}{s}" for lv in (1, 2, 3, 4) for s in STRAINS]
VOCAB = ["<pad>", "<bos>", "<eos>", "P", "X"] + BIDS
TOK = {w: i for i, w in enumerate(VOCAB)}
V = len(VOCAB)
MAXLEN = 40


def draw_auction(rng):
    """Return token ids and the true log2-prob of each next token."""
    seq, lp = [TOK["<bos>"]], []
    last_bid, passes, turn, last_bidder, doubled = -1, 0, 0, None, False
    while True:
        probs = np.zeros(V)
        if last_bid < 0:
            p_pass = 0.45 if passes < 3 else 0.3
        else:
            p_pass = 0.55 + 0.1 * passes
        legal = list(range(last_bid + 1, len(BIDS)))
        if not legal:
            p_pass = 1.0
        p_x = 0.0
        if last_bid >= 0 and not doubled and (turn - last_bidder) % 2 == 1:
            p_x = 0.08
        p_bid = max(0.0, 1.0 - p_pass - p_x)
        probs[TOK["P"]] = p_pass
        probs[TOK["X"]] = p_x
        if legal and p_bid > 0:
            w = np.array([0.5 ** (b - last_bid - 1) for b in legal])
            w /= w.sum()
            for b, wb in zip(legal, w):
                probs[TOK[BIDS[b]]] = p_bid * wb
        probs /= probs.sum()
        t = rng.choice(V, p=probs)
        lp.append(math.log2(probs[t]))
        seq.append(t)
        if t == TOK["P"]:
            passes += 1
        elif t == TOK["X"]:
            passes, doubled = 0, True
        else:
            last_bid, last_bidder, passes, doubled = BIDS.index(VOCAB[t]), turn, 0, False
        turn += 1
        if (last_bid >= 0 and passes == 3) or (last_bid < 0 and passes == 4):
            seq.append(TOK["<eos>"])
            lp.append(0.0)  # end after the third pass is certain
            return seq, lp


def make_set(n, seed):
    rng = np.random.default_rng(seed)
    x = np.zeros((n, MAXLEN + 1), np.int32)
    m = np.zeros((n, MAXLEN), np.float32)
    bits = 0.0
    for i in range(n):
        s, lp = draw_auction(rng)
        s, lp = s[: MAXLEN + 1], lp[:MAXLEN]
        x[i, : len(s)] = s
        m[i, : len(s) - 1] = 1.0
        bits += -sum(lp)
    return x, m, bits / m.sum()


class Bidder(nn.Module):
    def __init__(self, d=32, heads=4, layers=2):
        super().__init__()
        self.emb = nn.Embedding(V, d)
        self.pos = nn.Embedding(MAXLEN, d)
        self.layers = [nn.TransformerEncoderLayer(d, heads, 2 * d, norm_first=True)
                       for _ in range(layers)]
        self.norm = nn.LayerNorm(d)

    def __call__(self, x):
        T = x.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        h = self.emb(x) + self.pos(mx.arange(T))
        for layer in self.layers:
            h = layer(h, mask)
        return self.emb.as_linear(self.norm(h))


def masked_ce(model, x, y, m, smooth):
    ce = nn.losses.cross_entropy(model(x), y, label_smoothing=smooth)
    return (ce * m).sum() / m.sum()


def eval_bits(model, x, m):
    xx, yy, mm = mx.array(x[:, :-1]), mx.array(x[:, 1:]), mx.array(m)
    return masked_ce(model, xx, yy, mm, 0.0).item() / math.log(2)


def legal_rate(model, x, m):
    """Share of held-out positions after a bid where the argmax is not an
    illegal (lower or equal) bid."""
    logits = model(mx.array(x[:, :-1]))
    pred = np.array(mx.argmax(logits, axis=-1))
    ok, tot = 0, 0
    for i in range(x.shape[0]):
        last = -1
        for t in range(int(m[i].sum())):
            tok = VOCAB[x[i, t]]
            if tok in BIDS:
                last = BIDS.index(tok)
            p = VOCAB[pred[i, t]]
            if last >= 0:
                tot += 1
                ok += not (p in BIDS and BIDS.index(p) <= last)
    return 100.0 * ok / max(tot, 1)


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(5)
    xtr, mtr, _ = make_set(6000, 10)
    xva, mva, floor = make_set(800, 20)
    uni = np.bincount(xtr[:, 1:][mtr > 0], minlength=V) + 1.0
    uni /= uni.sum()
    uni_bits = float(-np.mean(np.log2(uni[xva[:, 1:][mva > 0]])))
    print(f"auctions train={len(xtr)} val={len(xva)} vocab={V} "
          f"val_tokens={int(mva.sum())}")
    print(f"reference bits/token: true-process floor {floor:.3f}, unigram {uni_bits:.3f}")

    model = Bidder()
    opt = optim.Adamax(learning_rate=0.0)
    mx.eval(model.parameters())
    vg = nn.value_and_grad(model, masked_ce)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y, m):
        loss, g = vg(model, x, y, m, 0.05)
        opt.update(model, g)
        return loss

    # gradient audit before compiling
    b = rng.integers(0, len(xtr), 64)
    _, g0 = vg(model, mx.array(xtr[b, :-1]), mx.array(xtr[b, 1:]), mx.array(mtr[b]), 0.05)
    flat = tree_flatten(g0)
    print(f"grad audit: {len(flat)} tensors, "
          f"{sum(1 for _, v in flat if mx.abs(v).max().item() == 0)} all-zero, "
          f"largest |g| {max(mx.abs(v).max().item() for _, v in flat):.3e}")

    cycles = [(0, 140), (140, 140)]  # (start step, length)
    peak, warm, batch = 5e-3, 15, 48
    t0 = time.perf_counter()
    print(f"{'cycle':>5} {'step':>5} {'lr':>9} {'train_ce':>9} {'val_bits':>9} "
          f"{'floor':>7} {'gap':>7} {'legal%':>7} {'sec':>6}")
    gstep, run = 0, []
    for c, (start, length) in enumerate(cycles, 1):
        for k in range(length):
            if k < warm:
                lr = peak * k / warm
            else:
                lr = 1e-5 + 0.5 * (peak - 1e-5) * (1 + math.cos(math.pi * (k - warm) / (length - warm)))
            opt.learning_rate = mx.array(lr)
            b = rng.integers(0, len(xtr), batch)
            loss = step(mx.array(xtr[b, :-1]), mx.array(xtr[b, 1:]), mx.array(mtr[b]))
            mx.eval(state)
            run.append(loss.item())
            gstep += 1
            if (k + 1) % 35 == 0 or k + 1 == length:
                vb = eval_bits(model, xva, mva)
                print(f"{c:>5} {k + 1:>5} {lr:>9.2e} {np.mean(run):>9.4f} {vb:>9.4f} "
                      f"{floor:>7.3f} {vb - floor:>+7.3f} {legal_rate(model, xva, mva):>7.1f} "
                      f"{time.perf_counter() - t0:>6.1f}")
                run = []
    vb = eval_bits(model, xva, mva)
    print(f"done: {gstep} updates, val {vb:.3f} bits/token vs floor {floor:.3f} "
          f"and unigram {uni_bits:.3f}; legal next-bid argmax {legal_rate(model, xva, mva):.1f}%")


if __name__ == "__main__":
    main()
