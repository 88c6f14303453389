"""Byte-level next-byte model over UTF-8 text of a made-up orthography.

The text uses five non-ASCII letters (2- and 3-byte UTF-8 sequences), so the
model sees raw bytes 0..255 and has to learn the lead/continuation structure.
Reports per-byte loss split by target kind and bits per character on held-out
text beside a unigram-byte baseline.
"""
import math
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

random.seed(7)
mx.random.seed(7)
np.random.seed(7)

ONSETS = ["k", "t", "m", "n", "s", "l", "r", "v", "ŋ", "ʃ", "d", "p"]
VOWELS = ["a", "e", "i", "o", "u", "á", "ə", "ẽ"]
CODAS = ["", "", "", "n", "s", "ŋ", "l"]


def make_word():
    return "".join(random.choice(ONSETS) + random.choice(VOWELS) + random.choice(CODAS)
                   for _ in range(random.randint(1, 3)))


def make_line():
    words = [make_word() for _ in range(random.randint(3, 8))]
    words[0] = words[0].capitalize()
    return " ".join(words) + ".\n"


train_text = "".join(make_line() for _ in range(1600))
val_text = "".join(make_line() for _ in range(250))
train_bytes = np.frombuffer(train_text.encode("utf-8"), dtype=np.uint8).astype(np.int32)
val_bytes = np.frombuffer(val_text.encode("utf-8"), dtype=np.uint8).astype(np.int32)
print(f"train: {len(train_text)} chars -> {len(train_bytes)} bytes "
      f"({len(train_bytes) / len(train_text):.3f} bytes/char)")
print(f"val:   {len(val_text)} chars -> {len(val_bytes)} bytes")
print(f"distinct byte values in train: {len(set(train_bytes.tolist()))}")

CTX = 8


def windows(arr):
    idx = np.arange(len(arr) - CTX)[:, None] + np.arange(CTX)[None, :]
    return arr[idx], arr[CTX:]


Xtr, Ytr = windows(train_bytes)
Xva, Yva = windows(val_bytes)
Xva_m, Yva_m = mx.array(Xva), mx.array(Yva)
cont_va = mx.array(((Yva >= 0x80) & (Yva < 0xC0)).astype(np.float32))
ascii_va = mx.array((Yva < 0x80).astype(np.float32))

# unigram-byte baseline from train counts (add-one smoothing)
counts = np.bincount(train_bytes, minlength=256).astype(np.float64) + 1.0
uni_logp = np.log(counts / counts.sum())
uni_nats_val = -uni_logp[val_bytes].sum()
uni_bpc = uni_nats_val / len(val_text) / math.log(2)
print(f"unigram-byte baseline on val: {uni_bpc:.3f} bits/char")


class ByteMLP(nn.Module):
    def __init__(self, d=24, hidden=96):
        super().__init__()
        self.emb = nn.Embedding(256, d)
        self.fc1 = nn.Linear(CTX * d, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 256)

    def __call__(self, x):
        h = self.emb(x).reshape(x.shape[0], -1)
        h = nn.gelu(self.fc1(h))
        h = h + nn.gelu(self.fc2(h))
        return self.out(h)


model = ByteMLP()
mx.eval(model.parameters())

STEPS = 300
WARM = 40
BATCH = 128
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, WARM),
     optim.cosine_decay(3e-3, STEPS - WARM, 3e-4)],
    [WARM],
)
opt = optim.AdamW(learning_rate=schedule, weight_decay=0.01)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)


def evaluate():
    ce = nn.losses.cross_entropy(model(Xva_m), Yva_m, reduction="none")
    total = ce.sum()
    c_loss = (ce * cont_va).sum() / cont_va.sum()
    a_loss = (ce * ascii_va).sum() / ascii_va.sum()
    # the first CTX bytes are never predicted; charge them the unigram cost
    head = -uni_logp[val_bytes[:CTX]].sum()
    bpc = (total.item() + head) / len(val_text) / math.log(2)
    return total.item() / len(Yva), c_loss.item(), a_loss.item(), bpc


t0 = time.time()
rng = np.random.default_rng(7)
for step in range(STEPS + 1):
    if step % 50 == 0:
        vl, cl, al, bpc = evaluate()
        lr = opt.learning_rate.item() if step > 0 else 0.0
        print(f"step {step:4d} | lr {lr:.2e} | val nats/byte {vl:.4f} | "
              f"cont-byte {cl:.4f} | ascii-byte {al:.4f} | bits/char {bpc:.3f} "
              f"(unigram {uni_bpc:.3f})")
    if step == STEPS:
        break
    idx = rng.integers(0, len(Xtr), BATCH)
    x, y = mx.array(Xtr[idx]), mx.array(Ytr[idx])
    loss, grads = loss_and_grad(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)

vl, cl, al, bpc = evaluate()
print(f"final: bits/char {bpc:.3f} vs unigram {uni_bpc:.3f}; "
      f"continuation-byte loss {cl:.5f}; time {time.time() - t0:.1f}s")

# greedy byte decoding, then UTF-8 decode of the produced bytes
seed = [int(b) for b in val_bytes[:CTX]]
out = list(seed)
for _ in range(120):
    logits = model(mx.array([out[-CTX:]]))
    out.append(int(mx.argmax(logits, axis=-1).item()))
sample = bytes(out).decode("utf-8", errors="replace")
print("sample:", sample.replace("\n", " | "))
print("replacement chars in sample:", sample.count("\ufffd"))
