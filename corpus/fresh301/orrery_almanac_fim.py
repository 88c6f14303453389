"""Char-level pretraining of a tiny causal transformer on synthetic almanac lines,
with fill-in-the-middle (head, tail, then middle) rows mixed into half of every batch."""
import math
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

random.seed(7)
mx.random.seed(7)

PLANETS = ["mercury", "venus", "mars", "jupiter", "saturn"]
BASE_HOUR = {"mercury": 5, "venus": 4, "mars": 22, "jupiter": 19, "saturn": 1}
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]


def almanac_line():
    p = random.choice(PLANETS)
    m = random.randrange(12)
    verb = random.choice(["rises", "sets"])
    hour = (BASE_HOUR[p] + m + (12 if verb == "sets" else 0)) % 24
    minute = random.randrange(0, 60, 5)
    side = "east" if verb == "rises" else "west"
    return f"{MONTHS[m]} {p} {verb} {hour:02d}:{minute:02d} {side}."


CHARS = sorted(set("".join(almanac_line() for _ in range(4000))))
PAD, PRE, SUF, MID, EOT = range(5)
STOI = {c: i + 5 for i, c in enumerate(CHARS)}
V = len(CHARS) + 5
L = 36


def encode(s):
    return [STOI[c] for c in s]


def make_row(doc, fim):
    ids = encode(doc)
    if fim:
        i, j = sorted(random.sample(range(1, len(ids)), 2))
        row = [PRE] + ids[:i] + [SUF] + ids[j:] + [MID] + ids[i:j] + [EOT]
    else:
        row = ids + [EOT]
    row = row[:L + 1]
    return row + [PAD] * (L + 1 - len(row))


def build(n, fim_rate):
    rows = [make_row(almanac_line(), random.random() < fim_rate) for _ in range(n)]
    return mx.array(rows, dtype=mx.int32)


train_rows = build(6000, 0.5)
val_plain = build(200, 0.0)
val_fim = build(200, 1.0)


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.ReLU(), nn.Linear(2 * d, d))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.ff(self.ln2(x))


class TinyLM(nn.Module):
    def __init__(self, vocab, d=32, heads=2, layers=1):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(L, d)
        self.blocks = [Block(d, heads) for _ in range(layers)]
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def __call__(self, x):
        T = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        for b in self.blocks:
            h = b(h, mask)
        return self.head(self.ln_f(h))


def token_losses(model, rows):
    x, y = rows[:, :-1], rows[:, 1:]
    ce = nn.losses.cross_entropy(model(x), y, reduction="none")
    return ce, x, y


def loss_fn(model, rows):
    ce, _, y = token_losses(model, rows)
    keep = (y != PAD).astype(ce.dtype)
    return (ce * keep).sum() / keep.sum()


def middle_mask(x, y):
    # positions whose input is at/after the MID sentinel and whose target is real text
    after_mid = mx.cumsum((x == MID).astype(mx.int32), axis=1) > 0
    return after_mid & (y != PAD) & (y != EOT)


def evaluate(model):
    ce_p, _, y_p = token_losses(model, val_plain)
    keep = (y_p != PAD).astype(mx.float32)
    plain = ((ce_p * keep).sum() / keep.sum()).item()
    logits = model(val_fim[:, :-1])
    y = val_fim[:, 1:]
    ce_m = nn.losses.cross_entropy(logits, y, reduction="none")
    mm = middle_mask(val_fim[:, :-1], y).astype(mx.float32)
    mid = ((ce_m * mm).sum() / mm.sum()).item()
    acc = (((logits.argmax(-1) == y).astype(mx.float32) * mm).sum() / mm.sum()).item()
    return plain, mid, acc


# baselines: uniform over vocab, and unigram char entropy of the middles
counts = [0] * V
for r in train_rows.tolist():
    for t in r[1:]:
        if t != PAD:
            counts[t] += 1
tot = sum(counts)
unigram = -sum(c / tot * math.log(c / tot) for c in counts if c)

model = TinyLM(V)
mx.eval(model.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))

STEPS, WARM, BATCH = 300, 40, 32
PEAK = 1e-2
lr = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, STEPS - WARM, 5e-4)],
    [WARM],
)
decayed = optim.AdamW(learning_rate=lr, weight_decay=0.05)
plain_adam = optim.Adam(learning_rate=lr)
opt = optim.MultiOptimizer(
    [decayed, plain_adam], [lambda path, w: w.ndim == 2 and "pos" not in path and "tok" not in path]
)

loss_and_grad = nn.value_and_grad(model, loss_fn)

print(f"vocab {V} (5 sentinels) | row length {L} | params {n_params}")
print(f"reference: ln(V) = {math.log(V):.3f} nats, unigram entropy = {unigram:.3f} nats")
print()
print("| step | lr | train | val l2r | val middle | middle acc % |")
print("|-----:|---:|------:|--------:|-----------:|-------------:|")

p, m, a = evaluate(model)
print(f"| {0:4d} | {0.0:.2e} | {'-':>5} | {p:7.3f} | {m:10.3f} | {100 * a:12.1f} |")

t0 = time.time()
n = train_rows.shape[0]
window = []
for step in range(1, STEPS + 1):
    idx = mx.array(random.sample(range(n), BATCH))
    loss, grads = loss_and_grad(model, train_rows[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    cur_lr = decayed.learning_rate.item()
    window.append(loss.item())
    if step % 50 == 0:
        p, m, a = evaluate(model)
        tr = sum(window) / len(window)
        window = []
        print(f"| {step:4d} | {float(cur_lr):.2e} | {tr:5.3f} | {p:7.3f} | {m:10.3f} | {100 * a:12.1f} |")

print()
p, m, a = evaluate(model)
print(f"final: val l2r {p:.3f} nats/char, val middle {m:.3f} nats/char ({m / math.log(2):.2f} bits), "
      f"middle char acc {100 * a:.1f}% | {time.time() - t0:.1f}s")
