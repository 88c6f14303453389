"""Tiny character-level model of shipping-forecast bulletins.

Mixed precision: the master weights are float32, every matmul runs in float16,
with a static loss scale of 256 that is divided back out of the gradients
before the float32 update. Loss is reported in bits per character (base-2),
smoothed with a bias-corrected exponential moving average.
"""
import math
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

random.seed(11)
mx.random.seed(11)

AREAS = ["viking", "forties", "cromarty", "forth", "tyne", "dogger", "fisher",
         "german bight", "humber", "thames", "dover", "wight", "portland",
         "plymouth", "biscay", "fastnet", "lundy", "irish sea", "shannon",
         "rockall", "malin", "hebrides", "bailey", "fair isle", "faeroes"]
DIRS = ["north", "northeast", "east", "southeast", "south", "southwest",
        "west", "northwest", "cyclonic", "variable"]
SEA = ["smooth", "slight", "moderate", "rough", "very rough", "high"]
WX = ["fair", "rain", "showers", "drizzle", "fog patches", "squally showers"]
VIS = ["good", "moderate", "poor", "very poor", "good occasionally poor"]


def bulletin():
    a = random.sample(AREAS, random.choice([1, 2, 3]))
    d = random.choice(DIRS)
    f1 = random.randint(3, 8)
    wind = f"{d} {f1}" if random.random() < 0.5 else f"{d} {f1} to {min(f1 + 2, 10)}"
    if random.random() < 0.3:
        wind += ", backing " + random.choice(DIRS) + " later"
    s = random.choice(SEA)
    if random.random() < 0.3:
        s += " or " + random.choice(SEA)
    return f"{', '.join(a)}. {wind}. {s}. {random.choice(WX)}. {random.choice(VIS)}.\n"


text = "".join(bulletin() for _ in range(1500))
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
V, CTX = len(chars), 8
ids = mx.array([stoi[c] for c in text], dtype=mx.int32)
n = ids.size
split = int(0.9 * n)


def windows(lo, hi):
    pos = mx.arange(lo, hi - CTX)
    X = ids[pos[:, None] + mx.arange(CTX)[None, :]]
    Y = ids[pos + CTX]
    return X, Y


Xtr, Ytr = windows(0, split)
Xva, Yva = windows(split, n)


class HalfLinear(nn.Module):
    """Linear layer with float32 master weights that computes in float16."""

    def __init__(self, din, dout):
        super().__init__()
        s = 1.0 / math.sqrt(din)
        self.weight = mx.random.uniform(-s, s, (dout, din))
        self.bias = mx.zeros((dout,))

    def __call__(self, x):
        w = self.weight.astype(mx.float16)
        b = self.bias.astype(mx.float16)
        return x.astype(mx.float16) @ w.T + b


class CharMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 24)
        self.h1 = HalfLinear(CTX * 24, 128)
        self.h2 = HalfLinear(128, 128)
        self.out = HalfLinear(128, V)

    def __call__(self, x):
        e = self.emb(x).reshape(x.shape[0], -1)
        h = nn.gelu(self.h1(e))
        h = h + nn.gelu(self.h2(h))
        return self.out(h)


LOSS_SCALE = 256.0
LN2 = math.log(2.0)

model = CharMLP()
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)


def scaled_loss(m, x, y):
    logits = m(x).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    return ce * LOSS_SCALE, ce


vg = nn.value_and_grad(model, scaled_loss)


def valid_bpc():
    tot = 0.0
    for i in range(0, Xva.shape[0], 2048):
        lg = model(Xva[i:i + 2048]).astype(mx.float32)
        tot += nn.losses.cross_entropy(lg, Yva[i:i + 2048], reduction="sum").item()
    return tot / Xva.shape[0] / LN2


print(f"shipping forecast corpus: {n} chars, vocab {V}, {Xtr.shape[0]} train / {Xva.shape[0]} valid windows")
print(f"uniform baseline: {math.log2(V):.3f} bits/char   untrained valid: {valid_bpc():.3f} bits/char")

BATCH, STEPS, REPORT = 128, 600, 60
beta, ema = 0.98, 0.0
overflow = 0
t0 = time.time()
for step in range(1, STEPS + 1):
    idx = mx.random.randint(0, Xtr.shape[0], (BATCH,))
    (sl, ce), g = vg(model, Xtr[idx], Ytr[idx])
    g = tree_map(lambda t: t.astype(mx.float32) / LOSS_SCALE, g)
    finite = all(bool(mx.all(mx.isfinite(v)).item()) for _, v in tree_flatten(g))
    if step == 1:
        leaves = tree_flatten(g)
        nz = sum(1 for _, v in leaves if mx.abs(v).max().item() > 0)
        print(f"step 1 gradient check: {nz}/{len(leaves)} leaves non-zero, dtypes "
              f"{sorted({str(v.dtype) for _, v in leaves})}")
    if not finite:
        overflow += 1
        continue
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, ce)
    ema = beta * ema + (1 - beta) * ce.item() / LN2
    if step % REPORT == 0:
        smooth = ema / (1 - beta ** step)
        print(f"step {step:5d}  train {smooth:.3f} bpc (ema)  valid {valid_bpc():.3f} bpc  "
              f"skipped {overflow}  {time.time() - t0:5.1f}s")

print(f"done: valid {valid_bpc():.3f} bits/char after {STEPS} steps, "
      f"{overflow} overflow steps skipped, master dtype {model.h1.weight.dtype}")
