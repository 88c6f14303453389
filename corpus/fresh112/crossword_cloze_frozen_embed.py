"""Crossword helper: guess the one blank letter of a 6-letter entry.

The letter table is a fixed random code (frozen on purpose, so entries from other solvers
that share the table stay compatible); only the MLP above it is trained.  The train step is
compiled with the model and optimizer state passed as inputs/outputs.  Loss is reported in
bits per blank letter (log2(26) = 4.70 for a blind guess), smoothed with a bias-corrected EMA.
"""
import json
import math
import random
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

ALPHA = "abcdefghijklmnopqrstuvwxyz"
BLANK = 26
WORD_LEN = 6
ONSETS = ["b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w",
          "br", "cl", "dr", "gr", "pl", "st", "tr", "sh", "ch", "th"]
NUCLEI = ["a", "e", "i", "o", "u", "ea", "ai", "oo", "ou"]
CODAS = ["", "", "", "n", "r", "s", "t", "l", "m", "ck", "nd", "st"]


def make_lexicon(n_words, seed):
    rnd = random.Random(seed)
    onset_w = [rnd.random() ** 2 for _ in ONSETS]
    words = set()
    while len(words) < n_words:
        w = ""
        while len(w) < WORD_LEN:
            w += rnd.choices(ONSETS, onset_w)[0] + rnd.choice(NUCLEI) + rnd.choice(CODAS)
        words.add(w[:WORD_LEN])
    return sorted(words)


def encode(words):
    return np.array([[ALPHA.index(c) for c in w] for w in words], dtype=np.int32)


def cloze_examples(codes):
    """every word with every position blanked: (inputs, blank position, answer letter)."""
    n = codes.shape[0]
    inp = np.repeat(codes, WORD_LEN, axis=0)
    pos = np.tile(np.arange(WORD_LEN), n)
    ans = inp[np.arange(inp.shape[0]), pos].copy()
    inp[np.arange(inp.shape[0]), pos] = BLANK
    return inp, pos.astype(np.int32), ans.astype(np.int32)


class ClozeNet(nn.Module):
    def __init__(self, d_emb=12, hidden=128):
        super().__init__()
        self.letters = nn.Embedding(BLANK + 1, d_emb)
        self.mix = nn.Linear(WORD_LEN * d_emb + WORD_LEN, hidden)
        self.mix2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, 26)

    def __call__(self, inp, pos):
        e = self.letters(inp).reshape(inp.shape[0], -1)
        where = (mx.arange(WORD_LEN)[None, :] == pos[:, None]).astype(e.dtype)
        h = nn.gelu(self.mix(mx.concatenate([e, where], axis=1)))
        h = nn.gelu(self.mix2(h)) + h
        return self.head(h)


def nats(model, inp, pos, ans):
    return nn.losses.cross_entropy(model(inp, pos), ans, reduction="mean")


def evaluate(model, inp, pos, ans, chunk=2048):
    tot, hit1, hit3 = 0.0, 0, 0
    for s in range(0, inp.shape[0], chunk):
        logits = model(inp[s:s + chunk], pos[s:s + chunk])
        a = ans[s:s + chunk]
        tot += nn.losses.cross_entropy(logits, a, reduction="sum").item()
        top3 = mx.argsort(-logits, axis=1)[:, :3]
        hit1 += (top3[:, 0] == a).sum().item()
        hit3 += (top3 == a[:, None]).any(axis=1).sum().item()
    n = inp.shape[0]
    return tot / n / math.log(2), 100.0 * hit1 / n, 100.0 * hit3 / n


def emit(**kw):
    print(json.dumps(kw), flush=True)


def main():
    t0 = time.time()
    words = make_lexicon(5200, seed=11)
    random.Random(3).shuffle(words)
    train_w, valid_w = words[:4400], words[4400:]
    tr = [mx.array(a) for a in cloze_examples(encode(train_w))]
    va = [mx.array(a) for a in cloze_examples(encode(valid_w))]
    freq = np.bincount(encode(train_w).ravel(), minlength=26) / (len(train_w) * WORD_LEN)
    unigram_bits = float(-(freq[freq > 0] * np.log2(freq[freq > 0])).sum())
    emit(event="data", train_words=len(train_w), valid_words=len(valid_w),
         train_blanks=int(tr[0].shape[0]), unigram_bits=round(unigram_bits, 3),
         blind_bits=round(math.log2(26), 3))

    mx.random.seed(5)
    model = ClozeNet()
    model.letters.freeze()                    # the shared letter code stays fixed
    table_before = np.array(model.letters.weight)
    steps_total, warm = 1500, 150
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, steps_total - warm, 1e-5)],
        [warm])
    opt = optim.Adam(learning_rate=sched)
    vg = nn.value_and_grad(model, nats)

    # gradient sanity on one batch before compiling
    _, g0 = vg(model, tr[0][:256], tr[1][:256], tr[2][:256])
    leaves = tree_flatten(g0)
    emit(event="grad_check", trainable_leaves=len(leaves),
         zero_leaves=[k for k, g in leaves if mx.max(mx.abs(g)).item() == 0.0],
         frozen=[k for k, _ in tree_flatten(model.parameters()) if k not in dict(leaves)])

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(inp, pos, ans):
        loss, grads = vg(model, inp, pos, ans)
        opt.update(model, grads)
        return loss

    n = tr[0].shape[0]
    batch = 128
    rng = np.random.default_rng(0)
    perm, cursor = rng.permutation(n), 0
    ema, beta = 0.0, 0.98
    for it in range(1, steps_total + 1):
        if cursor + batch > n:
            perm, cursor = rng.permutation(n), 0
        idx = mx.array(perm[cursor:cursor + batch])
        cursor += batch
        loss = step(tr[0][idx], tr[1][idx], tr[2][idx])
        mx.eval(loss, state)
        ema = beta * ema + (1 - beta) * loss.item() / math.log(2)
        if it % 250 == 0 or it == 50:
            vb, v1, v3 = evaluate(model, *va)
            emit(event="progress", step=it, lr=round(float(opt.learning_rate.item()), 6),
                 train_bits_ema=round(ema / (1 - beta ** it), 4), valid_bits=round(vb, 4),
                 valid_top1_pct=round(v1, 2), valid_top3_pct=round(v3, 2))

    vb, v1, v3 = evaluate(model, *va)
    moved = float(np.abs(np.array(model.letters.weight) - table_before).max())
    emit(event="done", valid_bits=round(vb, 4), valid_top1_pct=round(v1, 2), valid_top3_pct=round(v3, 2),
         letter_table_max_change=moved, seconds=round(time.time() - t0, 1))


if __name__ == "__main__":
    main()
