"""Tide-gauge bulletin language model: char-level pretraining, then the
vocabulary is grown with byte-pair merges learned from the same corpus and
training continues on the merged tokens.

Per-token loss is NOT comparable across the two stages (a merged token carries
more characters), so validation is also reported in bits per character.
"""
import math
import random
import time
from collections import Counter

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

random.seed(11)
np.random.seed(11)
mx.random.seed(11)

PORTS = ["Avonmouth", "Dover", "Leith", "Milford", "Tyne", "Hull", "Fowey", "Oban"]
MOODS = ["spring", "neap", "mid"]


def clock(minutes):
    minutes %= 24 * 60
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def bulletin():
    port = random.choice(PORTS)
    mood = random.choice(MOODS)
    base = {"spring": 11.0, "neap": 7.5, "mid": 9.0}[mood] + random.uniform(-0.6, 0.6)
    low = {"spring": 0.9, "neap": 2.8, "mid": 1.8}[mood] + random.uniform(-0.3, 0.3)
    t = random.randint(0, 6 * 60)
    parts = [f"PORT {port}"]
    for k in range(4):
        tag = "HW" if k % 2 == 0 else "LW"
        h = base if tag == "HW" else low
        h += random.uniform(-0.2, 0.2)
        parts.append(f"{tag} {clock(t)} {h:.1f}m")
        t += 372 + random.randint(-9, 9)
    parts.append(f"RANGE {mood}")
    return " ".join(parts) + "\n"


train_text = "".join(bulletin() for _ in range(900))
valid_text = "".join(bulletin() for _ in range(60))
chars = sorted(set(train_text + valid_text))
V0 = len(chars)
stoi = {c: i for i, c in enumerate(chars)}
pieces = list(chars)  # surface string of every token id

counts = Counter(train_text)
uni_bpc = -sum(n / len(train_text) * math.log2(n / len(train_text)) for n in counts.values())
print(f"corpus: train {len(train_text)} chars, valid {len(valid_text)} chars, {V0} symbols")
print(f"baselines: uniform {math.log2(V0):.3f} bpc, unigram {uni_bpc:.3f} bpc")

CTX, D, HEADS, LAYERS, BATCH = 32, 32, 4, 2, 16


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(D)
        self.attn = nn.MultiHeadAttention(D, HEADS)
        self.ln2 = nn.LayerNorm(D)
        self.ff1 = nn.Linear(D, 4 * D)
        self.ff2 = nn.Linear(4 * D, D)

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.ff2(nn.gelu(self.ff1(self.ln2(x))))


class TinyLM(nn.Module):
    def __init__(self, vocab):
        super().__init__()
        self.tok = nn.Embedding(vocab, D)
        self.pos = nn.Embedding(CTX, D)
        self.blocks = [Block() for _ in range(LAYERS)]
        self.ln = nn.LayerNorm(D)

    def __call__(self, ids):
        T = ids.shape[1]
        x = self.tok(ids) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        for b in self.blocks:
            x = b(x, mask)
        return self.tok.as_linear(self.ln(x))


def encode_chars(text):
    return [stoi[c] for c in text]


def apply_merges(ids, merges):
    for (a, b), new in merges:
        out, i = [], 0
        while i < len(ids):
            if i + 1 < len(ids) and ids[i] == a and ids[i + 1] == b:
                out.append(new)
                i += 2
            else:
                out.append(ids[i])
                i += 1
        ids = out
    return ids


def learn_merges(ids, n_merges, first_id):
    merges = []
    for k in range(n_merges):
        pairs = Counter(zip(ids, ids[1:]))
        (a, b), _ = pairs.most_common(1)[0]
        new = first_id + k
        merges.append(((a, b), new))
        ids = apply_merges(ids, [((a, b), new)])
    return merges, ids


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def batch(arr):
    starts = np.random.randint(0, len(arr) - CTX - 1, BATCH)
    x = np.stack([arr[s:s + CTX] for s in starts])
    y = np.stack([arr[s + 1:s + CTX + 1] for s in starts])
    return mx.array(x), mx.array(y)


def evaluate(model, arr, lens):
    total_nats, total_chars, total_tok = 0.0, 0, 0
    n = (len(arr) - 1) // CTX
    xs = np.stack([arr[i * CTX:(i + 1) * CTX] for i in range(n)])
    ys = np.stack([arr[i * CTX + 1:(i + 1) * CTX + 1] for i in range(n)])
    for s in range(0, n, 64):
        x, y = mx.array(xs[s:s + 64]), mx.array(ys[s:s + 64])
        ce = nn.losses.cross_entropy(model(x), y, reduction="sum")
        total_nats += ce.item()
        total_tok += y.size
        total_chars += int(lens[ys[s:s + 64]].sum())
    return total_nats / total_tok, total_nats / total_chars / math.log(2)


def run_stage(name, model, tr, va, lens, steps, peak):
    warm = 25
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, 1e-4)],
        [warm],
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    step_fn = nn.value_and_grad(model, loss_fn)
    nl, bpc = evaluate(model, va, lens)
    print(f"[{name}] start  valid {nl:.3f} nats/token  {bpc:.3f} bpc  "
          f"chars/token {lens[va].mean():.2f}")
    t0 = time.perf_counter()
    for it in range(1, steps + 1):
        x, y = batch(tr)
        loss, g = step_fn(model, x, y)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        lr_now = opt.learning_rate.item()  # the rate this update used
        if it in (1, 2) or it % 25 == 0 or it == steps:
            msg = f"[{name}] step {it:4d}  lr {lr_now:.2e}  train {loss.item():.3f} nats/token"
            if it % 75 == 0:
                nl, bpc = evaluate(model, va, lens)
                msg += f"  valid {nl:.3f} nats/token  {bpc:.3f} bpc"
            print(msg)
    print(f"[{name}] {steps} steps in {time.perf_counter() - t0:.1f}s")
    return bpc


# ---- stage A: characters ------------------------------------------------------
tr_ids = np.array(encode_chars(train_text), dtype=np.int32)
va_ids = np.array(encode_chars(valid_text), dtype=np.int32)
lens = np.ones(V0, dtype=np.int64)
model = TinyLM(V0)
bpc_a = run_stage("chars", model, tr_ids, va_ids, lens, 150, 4e-3)

# ---- grow the vocabulary ----------------------------------------------------------
N_MERGE = 36
merges, tr_list = learn_merges(tr_ids.tolist(), N_MERGE, V0)
for (a, b), new in merges:
    pieces.append(pieces[a] + pieces[b])
V1 = V0 + N_MERGE
lens = np.array([len(p) for p in pieces], dtype=np.int64)
print(f"learned {N_MERGE} merges, e.g. " + ", ".join(repr(pieces[V0 + k]) for k in range(6)))
tr2 = np.array(tr_list, dtype=np.int32)
va2 = np.array(apply_merges(va_ids.tolist(), merges), dtype=np.int32)
print(f"tokens: train {len(tr_ids)} -> {len(tr2)}, valid {len(va_ids)} -> {len(va2)}")

old = model.tok.weight
rows = [old[i] for i in range(V0)]
for (a, b), new in merges:
    rows.append(0.5 * (rows[a] + rows[b]))
grown = TinyLM(V1)
grown.update(model.parameters())  # blocks, positions, final norm; tok gets replaced below
grown.tok.weight = mx.stack(rows)
mx.eval(grown.parameters())
bpc_b = run_stage("merged", grown, tr2, va2, lens, 150, 3e-3)

print(f"done: char stage {bpc_a:.3f} bpc, merged stage {bpc_b:.3f} bpc, "
      f"unigram {uni_bpc:.3f} bpc")
