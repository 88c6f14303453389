"""Parish-register transcription: free-form burial dates -> ISO 8601.

Character-level seq2seq with the stock mlx.nn.Transformer encoder-decoder.
Teacher forcing (decoder input = <s> + target[:-1]), additive causal mask on
the decoder, source padding mask on encoder self-attention and cross-attention.
Adam under a Noam (inverse square-root) schedule that starts at exactly 0;
gradients are accumulated over 2 micro-batches; dropout 0.1 makes the train
loss sit above the held-out loss.  Progress goes out as a column-aligned table
whose header repeats every 5 rows.
"""
import math
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

random.seed(11)
mx.random.seed(11)

MONTHS = ["January", "February", "March", "April", "May", "June", "July",
          "August", "September", "October", "November", "December"]
DAYS_IN = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def ordinal(d):
    if 10 <= d % 100 <= 20:
        return f"{d}th"
    return f"{d}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(d % 10, 'th') }".replace(" ", "")


def make_pair():
    y = random.randint(1700, 1899)
    m = random.randint(1, 12)
    d = random.randint(1, DAYS_IN[m - 1])
    mon = MONTHS[m - 1]
    style = random.randrange(6)
    if style == 0:
        src = f"{d} {mon} {y}"
    elif style == 1:
        src = f"{mon} {d}, {y}"
    elif style == 2:
        src = f"{ordinal(d)} of {mon} {y}"
    elif style == 3:
        src = f"{d:02d}/{m:02d}/{y}"
    elif style == 4:
        src = f"{ordinal(d)} {mon[:3]}. {y}"
    else:
        src = f"{mon[:3].upper()} {d} {y}"
    return src, f"{y:04d}-{m:02d}-{d:02d}"


SRC_CHARS = sorted(set("".join(MONTHS) + "".join(MONTHS).upper()
                       + "0123456789 ,./ofstndrh"))
TGT_CHARS = list("0123456789-")
PAD, BOS, EOS = 0, 1, 2
S_ID = {c: i + 3 for i, c in enumerate(SRC_CHARS)}
T_ID = {c: i + 3 for i, c in enumerate(TGT_CHARS)}
T_CH = {i: c for c, i in T_ID.items()}
SV, TV = len(SRC_CHARS) + 3, len(TGT_CHARS) + 3
TGT_LEN = 11                              # 10 characters + <eos>


def batch(n):
    pairs = [make_pair() for _ in range(n)]
    S = max(len(s) for s, _ in pairs)
    src = np.full((n, S), PAD, np.int32)
    tgt = np.full((n, TGT_LEN), PAD, np.int32)
    for i, (s, t) in enumerate(pairs):
        src[i, :len(s)] = [S_ID[c] for c in s]
        tgt[i] = [T_ID[c] for c in t] + [EOS]
    dec_in = np.concatenate([np.full((n, 1), BOS, np.int32), tgt[:, :-1]], 1)
    return mx.array(src), mx.array(dec_in), mx.array(tgt), pairs


class DateNormaliser(nn.Module):
    def __init__(self, d=64):
        super().__init__()
        self.d = d
        self.src_emb = nn.Embedding(SV, d)
        self.tgt_emb = nn.Embedding(TV, d)
        self.pos = nn.SinusoidalPositionalEncoding(d)
        self.core = nn.Transformer(dims=d, num_heads=4, num_encoder_layers=1,
                                   num_decoder_layers=1, mlp_dims=4 * d,
                                   dropout=0.1)
        self.head = nn.Linear(d, TV)

    def embed(self, emb, ids):
        x = emb(ids) * math.sqrt(self.d)
        return x + self.pos(mx.arange(ids.shape[1]))

    def __call__(self, src, dec_in):
        src_mask = mx.where(src == PAD, -1e9, 0.0)[:, None, None, :]
        tgt_mask = nn.MultiHeadAttention.create_additive_causal_mask(dec_in.shape[1])
        h = self.core(self.embed(self.src_emb, src), self.embed(self.tgt_emb, dec_in),
                      src_mask, tgt_mask, src_mask)
        return self.head(h)

    def greedy(self, src):
        ys = mx.full((src.shape[0], 1), BOS, dtype=mx.int32)
        for _ in range(TGT_LEN):
            logits = self(src, ys)[:, -1]
            ys = mx.concatenate([ys, mx.argmax(logits, -1)[:, None].astype(mx.int32)], 1)
        return ys[:, 1:]


def loss_fn(model, src, dec_in, tgt):
    logits = model(src, dec_in)
    ce = nn.losses.cross_entropy(logits, tgt, reduction="none")
    mask = (tgt != PAD).astype(mx.float32)
    return (ce * mask).sum() / mask.sum()


def decode(row):
    out = []
    for t in row:
        if t == EOS:
            break
        out.append(T_CH.get(t, "?"))
    return "".join(out)


D_MODEL, WARM, UPDATES, ACCUM, MICRO = 48, 20, 160, 2, 24


def noam(step):
    step = step.astype(mx.float32)
    return 0.3 * D_MODEL ** -0.5 * mx.minimum(
        mx.rsqrt(mx.maximum(step, 1.0)), step * WARM ** -1.5)


model = DateNormaliser(D_MODEL)
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=noam, betas=[0.9, 0.98], eps=1e-9)
loss_and_grad = nn.value_and_grad(model, loss_fn)
n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))

v_src, v_dec, v_tgt, v_pairs = batch(64)
print(f"parish register dates: {n_params} parameters, {SV} source / {TV} target "
      f"symbols, uniform guess {math.log(TV):.3f} nats/char")

HEADER = f"{'upd':>5} {'lr':>9} {'train_ce':>9} {'valid_ce':>9} {'char%':>7} {'exact%':>7} {'sec':>6}"
rows = 0
t0 = time.perf_counter()
for upd in range(1, UPDATES + 1):
    model.train()
    acc, tot = None, 0.0
    for _ in range(ACCUM):
        src, dec_in, tgt, _ = batch(MICRO)
        loss, g = loss_and_grad(model, src, dec_in, tgt)
        acc = g if acc is None else tree_map(mx.add, acc, g)
        tot += loss
    grads = tree_map(lambda x: x / ACCUM, acc)
    if upd == 1:
        norms = [mx.linalg.norm(v).item() for _, v in tree_flatten(grads)]
        print(f"gradient check: {len(norms)} tensors, "
              f"{sum(n == 0 for n in norms)} all-zero, "
              f"global norm {math.sqrt(sum(n * n for n in norms)):.3f}")
    lr_now = opt.learning_rate.item()
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    if upd == 1 or upd % 20 == 0:
        model.eval()
        v_loss = loss_fn(model, v_src, v_dec, v_tgt).item()
        pred = np.array(model.greedy(v_src))
        gold = np.array(v_tgt)
        char = 100.0 * ((pred == gold) | (gold == PAD)).mean()
        exact = 100.0 * np.mean([decode(p) == t for p, (_, t) in zip(pred, v_pairs)])
        if rows % 5 == 0:
            print(HEADER)
        rows += 1
        print(f"{upd:>5} {lr_now:>9.2e} {tot.item() / ACCUM:>9.4f} {v_loss:>9.4f} "
              f"{char:>7.1f} {exact:>7.1f} {time.perf_counter() - t0:>6.1f}")

model.eval()
pred = np.array(model.greedy(v_src[:4]))
for p, (s, t) in zip(pred, v_pairs[:4]):
    print(f"  {s!r:>24} -> {decode(p)}   (register: {t})")
