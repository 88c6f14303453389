"""Tiny character transformer trained on synthetic livestock-auction chant lines.

Samples are drawn from the model between reports so progress can be read by eye.
"""
import math
import random
import re
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

random.seed(7)
np.random.seed(7)
mx.random.seed(7)

ANIMALS = ["heifers", "steers", "ewes", "lambs", "weaners", "bulls"]
BUYERS = ["hollis", "dunmore", "keane", "marsh", "pryce", "tolland"]


def chant_line():
    lot = random.randint(1, 60)
    beast = random.choice(ANIMALS)
    head = random.randint(2, 24)
    price = random.choice([20, 25, 30, 40, 50])
    step = random.choice([5, 10])
    bids = [price]
    for _ in range(random.randint(2, 5)):
        bids.append(bids[-1] + step)
    chant = " ".join(f"{b} {random.choice(['bid', 'now', 'go'])}" for b in bids[:-1])
    return f"lot {lot} {head} {beast}: {chant} {bids[-1]} sold {bids[-1]} {random.choice(BUYERS)}\n"


text_train = "".join(chant_line() for _ in range(3000))
text_valid = "".join(chant_line() for _ in range(300))
chars = sorted(set(text_train + text_valid))
stoi = {c: i for i, c in enumerate(chars)}
itos = {i: c for c, i in stoi.items()}
V = len(chars)
train_ids = np.array([stoi[c] for c in text_train], dtype=np.int32)
valid_ids = np.array([stoi[c] for c in text_valid], dtype=np.int32)

CTX = 32


def bigram_bpc():
    counts = np.ones((V, V))
    np.add.at(counts, (train_ids[:-1], train_ids[1:]), 1)
    probs = counts / counts.sum(1, keepdims=True)
    return float(-np.log2(probs[valid_ids[:-1], valid_ids[1:]]).mean())


def batch(ids, n):
    starts = np.random.randint(0, len(ids) - CTX - 1, size=n)
    x = np.stack([ids[s:s + CTX] for s in starts])
    y = np.stack([ids[s + 1:s + CTX + 1] for s in starts])
    return mx.array(x), mx.array(y)


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.mlp(self.ln2(x))


class ChantLM(nn.Module):
    def __init__(self, vocab, d=32, heads=4, layers=2):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(CTX, d)
        self.blocks = [Block(d, heads) for _ in range(layers)]
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def __call__(self, x):
        T = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        for blk in self.blocks:
            h = blk(h, mask)
        return self.head(self.ln(h))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = ChantLM(V)
STEPS = 600
WARM = 80
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 6e-3, WARM), optim.cosine_decay(6e-3, STEPS - WARM, 1e-4)], [WARM]
)
opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
loss_and_grad = nn.value_and_grad(model, loss_fn)


def train_step(x, y):
    loss, grads = loss_and_grad(model, x, y)
    grads, gnorm = optim.clip_grad_norm(grads, 1.0)
    opt.update(model, grads)
    return loss, gnorm


def valid_bpc():
    rng = np.random.RandomState(0)
    tot = 0.0
    for _ in range(4):
        starts = rng.randint(0, len(valid_ids) - CTX - 1, size=16)
        x = mx.array(np.stack([valid_ids[s:s + CTX] for s in starts]))
        y = mx.array(np.stack([valid_ids[s + 1:s + CTX + 1] for s in starts]))
        tot += loss_fn(model, x, y).item()
    return tot / 4 / math.log(2)


def sample(n_lines, temp, key):
    ctx = [stoi["\n"]]
    out = []
    keys = mx.random.split(key, 200)
    i = 0
    while len(out) < n_lines and i < 200:
        x = mx.array([ctx[-CTX:]])
        logits = model(x)[0, -1] / temp
        nxt = mx.random.categorical(logits, key=keys[i]).item()
        i += 1
        ctx.append(nxt)
        if itos[nxt] == "\n":
            line = "".join(itos[t] for t in ctx[:-1]).split("\n")[-1]
            out.append(line)
    if len(out) < n_lines:
        out.append("".join(itos[t] for t in ctx).split("\n")[-1] + " ...")
    return out


PAT = re.compile(r"^lot \d+ \d+ [a-z]+: ((\d+) (bid|now|go) )+(\d+) sold (\d+) [a-z]+$")


def well_formed(line):
    if not PAT.match(line):
        return False
    nums = [int(t) for t in re.findall(r"\d+", line.split(":")[1])]
    bids, final = nums[:-1], nums[-1]
    return all(b2 > b1 for b1, b2 in zip(bids, bids[1:])) and bids[-1] == final


n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"chant corpus: {len(text_train)} train chars, {len(text_valid)} valid chars, vocab {V}, params {n_params}")
print(f"reference: uniform {math.log2(V):.3f} bpc | bigram counts {bigram_bpc():.3f} bpc on valid")
print(f"untrained valid: {valid_bpc():.3f} bpc")
print()

t0 = time.time()
window = []
for step in range(1, STEPS + 1):
    x, y = batch(train_ids, 12)
    lr_now = float(sched(opt.step))
    loss, gnorm = train_step(x, y)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    if step == 1 or step % 100 == 0:
        lines = sample(2, 0.8, mx.random.key(1000 + step))
        ok = sum(well_formed(l) for l in lines)
        print(f"-- step {step}/{STEPS}  lr {lr_now:.2e}  train {np.mean(window) / math.log(2):.3f} bpc  "
              f"valid {valid_bpc():.3f} bpc  |g| {gnorm.item():.2f}  {time.time() - t0:.1f}s")
        for l in lines:
            print(f"     > {l[:90]}")
        print(f"     well-formed {ok}/{len(lines)}")
        window = []

final = sample(6, 0.8, mx.random.key(4242))
rate = sum(well_formed(l) for l in final) / len(final)
print()
print(f"final: valid {valid_bpc():.3f} bpc, well-formed sample lines {100 * rate:.0f}% of {len(final)}")
