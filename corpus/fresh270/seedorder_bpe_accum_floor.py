"""Seed-catalogue order slips: a small byte-pair tokenizer is learned from the
slips, then a two-block causal transformer is trained on the BPE ids.

Batches are right padded; each optimizer update accumulates two
micro-batches and divides the summed token NLL by the number of real target
tokens.  Validation is reported in bits per character, beside a character
unigram baseline and the exact entropy floor of the slip generator.
"""

import math
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

SEED = 7
random.seed(SEED)
np.random.seed(SEED)
mx.random.seed(SEED)

# ---------------------------------------------------------------- slips
CROPS = ["CARROT", "BEET", "KALE", "LEEK", "ONION", "PEA", "BEAN", "RADISH"]
KINDS = ["EARLY", "LATE", "GIANT", "DWARF"]
UNITS = ["PKT", "OZ", "LB"]
TOWNS = ["ELY", "BATH", "YORK", "WELLS", "RYE", "DEAL"]
DAYS = ["MON", "TUE", "WED", "THU", "FRI"]

TEMPLATES = [
    # (format, slot lists)
    ("ORDER {0} {1} {2} {3} SEND TO {4}", [list("123456789"), UNITS, KINDS, CROPS, TOWNS]),
    ("REPEAT LAST {0} ORDER BY {1}", [CROPS, DAYS]),
    ("CANCEL {0} {1} PAID {2} SHILLINGS", [KINDS, CROPS, list("123456789")]),
    ("QUERY {0} STOCK {1} {2}", [CROPS, UNITS, TOWNS]),
]


def make_slip(rng):
    t = rng.randrange(len(TEMPLATES))
    fmt, slots = TEMPLATES[t]
    vals = [rng.choice(s) for s in slots]
    text = fmt.format(*vals)
    # exact -log2 p(text) under the generator (templates never collide)
    bits = math.log2(len(TEMPLATES)) + sum(math.log2(len(s)) for s in slots)
    return text, bits


rng = random.Random(SEED)
train_slips = [make_slip(rng) for _ in range(2400)]
val_slips = [make_slip(rng) for _ in range(300)]

# ---------------------------------------------------------------- BPE
PAD, BOS, EOS = 0, 1, 2
chars = sorted({c for s, _ in train_slips for c in s})
sym2id = {c: i + 3 for i, c in enumerate(chars)}


def learn_merges(texts, n_merges):
    seqs = [list(t) for t in texts]
    merges = []
    for _ in range(n_merges):
        counts = {}
        for s in seqs:
            for a, b in zip(s, s[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + 1
        if not counts:
            break
        pair = max(counts.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(pair)
        new = pair[0] + pair[1]
        out = []
        for s in seqs:
            r, i = [], 0
            while i < len(s):
                if i + 1 < len(s) and (s[i], s[i + 1]) == pair:
                    r.append(new)
                    i += 2
                else:
                    r.append(s[i])
                    i += 1
            out.append(r)
        seqs = out
    return merges


merges = learn_merges([s for s, _ in train_slips], 60)
rank = {p: i for i, p in enumerate(merges)}
for a, b in merges:
    sym2id.setdefault(a + b, len(sym2id) + 3)
VOCAB = 3 + len(sym2id)


def encode(text):
    s = list(text)
    while len(s) > 1:
        best, bi = None, -1
        for i, p in enumerate(zip(s, s[1:])):
            r = rank.get(p)
            if r is not None and (best is None or r < best):
                best, bi = r, i
        if best is None:
            break
        s = s[:bi] + [s[bi] + s[bi + 1]] + s[bi + 2:]
    return [BOS] + [sym2id[t] for t in s] + [EOS]


train_ids = [encode(s) for s, _ in train_slips]
val_ids = [encode(s) for s, _ in val_slips]
MAXLEN = max(len(x) for x in train_ids + val_ids)
n_chars_train = sum(len(s) + 1 for s, _ in train_slips)  # +1 for the end mark
tok_per_char = sum(len(x) - 1 for x in train_ids) / n_chars_train

# baselines on the validation slips, in bits per character
cfreq = {}
for s, _ in train_slips:
    for c in s + "$":
        cfreq[c] = cfreq.get(c, 0) + 1
tot = sum(cfreq.values())
val_chars = sum(len(s) + 1 for s, _ in val_slips)
unigram_bpc = -sum(math.log2(cfreq[c] / tot) for s, _ in val_slips for c in s + "$") / val_chars
floor_bpc = sum(b for _, b in val_slips) / val_chars


def pad_batch(seqs):
    L = max(len(x) for x in seqs)
    arr = np.full((len(seqs), L), PAD, dtype=np.int32)
    for i, x in enumerate(seqs):
        arr[i, : len(x)] = x
    return mx.array(arr)


# ---------------------------------------------------------------- model
class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.att = nn.MultiHeadAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, 4 * d)
        self.ff2 = nn.Linear(4 * d, d)

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.att(h, h, h, mask)
        return x + self.ff2(nn.gelu(self.ff1(self.ln2(x))))


class SlipLM(nn.Module):
    def __init__(self, vocab, d=32, heads=4, layers=2, maxlen=64):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(maxlen, d)
        self.blocks = [Block(d, heads) for _ in range(layers)]
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def __call__(self, ids):
        B, L = ids.shape
        x = self.tok(ids) + self.pos(mx.arange(L))
        causal = nn.MultiHeadAttention.create_additive_causal_mask(L)
        keypad = mx.where(ids == PAD, -1e9, 0.0)[:, None, None, :]
        mask = causal[None, None] + keypad
        for b in self.blocks:
            x = b(x, mask)
        return self.head(self.ln(x))


def summed_nll(model, batch):
    inp, tgt = batch[:, :-1], batch[:, 1:]
    logits = model(inp)
    real = (tgt != PAD).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, tgt, reduction="none")
    return (ce * real).sum()


def val_bpc(model):
    total = 0.0
    for i in range(0, len(val_ids), 150):
        total += summed_nll(model, pad_batch(val_ids[i : i + 150])).item()
    return total / math.log(2) / val_chars


model = SlipLM(VOCAB, maxlen=MAXLEN)
mx.eval(model.parameters())

UPDATES, ACCUM, MB = 150, 2, 24
WARM = 20
lr_sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, UPDATES - WARM, 3e-4)],
    [WARM],
)
opt = optim.AdamW(learning_rate=lr_sched, weight_decay=0.01)
grad_fn = nn.value_and_grad(model, summed_nll)

print(f"slips: {len(train_slips)} train / {len(val_slips)} val, {len(chars)} characters")
print(f"bpe: {len(merges)} merges, vocab {VOCAB}, {tok_per_char:.3f} tokens per character, "
      f"longest row {MAXLEN}")
print(f"reference: char unigram {unigram_bpc:.3f} bpc, generator entropy floor {floor_bpc:.3f} bpc")

_, g = grad_fn(model, pad_batch(train_ids[:MB]))
gl = tree_flatten(g)
nz = sum(1 for _, v in gl if mx.abs(v).max().item() > 0)
print(f"gradient check: {nz}/{len(gl)} tensors with non-zero gradient")


def report(upd, lr, train_bpt, t0):
    v = val_bpc(model)
    print(f"upd {upd:4d} | lr {lr:.2e} | train {train_bpt:6.3f} bits/token | val {v:.4f} bpc | "
          f"floor {floor_bpc:.4f} | excess {v - floor_bpc:+.4f} | unigram {unigram_bpc:.3f} | "
          f"{time.time() - t0:5.1f}s")
    return v


t0 = time.time()
report(0, 0.0, float("nan"), t0)
order = np.random.permutation(len(train_ids))
pos = 0
last = None
for upd in range(1, UPDATES + 1):
    acc, ntok, nll = None, 0, 0.0
    for _ in range(ACCUM):
        if pos + MB > len(order):
            order = np.random.permutation(len(train_ids))
            pos = 0
        rows = [train_ids[j] for j in order[pos : pos + MB]]
        pos += MB
        batch = pad_batch(rows)
        loss, g = grad_fn(model, batch)
        acc = g if acc is None else tree_map(lambda a, b: a + b, acc, g)
        ntok += sum(len(r) - 1 for r in rows)
        nll += loss
    acc = tree_map(lambda a: a / ntok, acc)
    opt.update(model, acc)
    lr_now = opt.learning_rate.item()  # the rate this update used
    mx.eval(model.parameters(), opt.state, nll)
    train_bpt = nll.item() / ntok / math.log(2)
    if upd in (1, 2) or (upd >= 75 and upd % 25 == 0):
        last = report(upd, lr_now, train_bpt, t0)

print(f"done: {UPDATES} updates x {ACCUM} micro-batches, final val {last:.4f} bpc "
      f"(floor {floor_bpc:.4f}, unigram {unigram_bpc:.3f})")
