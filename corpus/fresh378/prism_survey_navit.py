"""Lighthouse lens survey: count chipped prisms on variable-size lens photos.

Tiny vision tower in the NaViT style: each photo keeps its own size (8x8, 8x12 or
12x12 grey pixels), is cut into 4x4 patches, and two or three photos are packed
into one sequence of 16 patch slots with a block-diagonal attention mask so that
patches only see patches of their own photo. Each photo is read out by masked
mean pooling over its patches into a 4-way head (0, 1, 2 or 3 chipped prisms).
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)

P = 4            # patch side
SLOTS = 16       # packed sequence length
SIZES = [(8, 8), (8, 12), (12, 12)]


def make_photo(n_chips):
    h, w = SIZES[rng.integers(len(SIZES))]
    img = 0.3 + 0.05 * rng.standard_normal((h, w))
    # prism bands: brighter rows every 4 pixels
    img[::4, :] += 0.3
    cells = [(r, c) for r in range(h // P) for c in range(w // P)]
    pick = rng.choice(len(cells), size=n_chips, replace=False)
    for k in pick:
        r, c = cells[k]
        rr, cc = r * P + rng.integers(1, 3), c * P + rng.integers(1, 3)
        img[rr:rr + 2, cc:cc + 2] -= 0.35   # dark chip
    img += 0.15 * rng.standard_normal((h, w))
    return img.astype(np.float32)


def patches(img):
    h, w = img.shape
    x = img.reshape(h // P, P, w // P, P).transpose(0, 2, 1, 3).reshape(-1, P * P)
    rows = np.repeat(np.arange(h // P), w // P)
    cols = np.tile(np.arange(w // P), h // P)
    return x, rows, cols


def pack(n_photos_target):
    """Greedy packing of photos into sequences of SLOTS patches."""
    seqs, labels_all = [], []
    while len(labels_all) < n_photos_target:
        x = np.zeros((SLOTS, P * P), np.float32)
        rows = np.zeros(SLOTS, np.int32)
        cols = np.zeros(SLOTS, np.int32)
        seg = np.full(SLOTS, -1, np.int32)  # -1 = padding slot
        used, k, labs = 0, 0, []
        while True:
            y = int(rng.choice(4, p=[0.4, 0.3, 0.2, 0.1]))
            img = make_photo(y)
            px, r, c = patches(img)
            if used + len(px) > SLOTS or k == 3:
                break
            x[used:used + len(px)] = px
            rows[used:used + len(px)] = r
            cols[used:used + len(px)] = c
            seg[used:used + len(px)] = k
            used += len(px)
            labs.append(y)
            k += 1
        lab = np.full(3, -1, np.int32)
        lab[:len(labs)] = labs
        seqs.append((x, rows, cols, seg))
        labels_all.extend(labs)
        labels_all_per = lab
        seqs[-1] = (x, rows, cols, seg, labels_all_per)
    X = np.stack([s[0] for s in seqs])
    R = np.stack([s[1] for s in seqs])
    C = np.stack([s[2] for s in seqs])
    S = np.stack([s[3] for s in seqs])
    Y = np.stack([s[4] for s in seqs])
    return X, R, C, S, Y


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask=mask)
        return x + self.mlp(self.ln2(x))


class Tower(nn.Module):
    def __init__(self, d=48, heads=4, depth=2):
        super().__init__()
        self.embed = nn.Linear(P * P, d)
        self.row = nn.Embedding(3, d)
        self.col = nn.Embedding(3, d)
        self.blocks = [Block(d, heads) for _ in range(depth)]
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, 4)

    def __call__(self, x, rows, cols, seg):
        h = self.embed(x) + self.row(rows) + self.col(cols)
        same = (seg[:, :, None] == seg[:, None, :]) & (seg[:, :, None] >= 0)
        # padding slots attend to themselves only so no row is fully masked
        eye = mx.eye(SLOTS, dtype=mx.bool_)[None]
        allow = same | eye
        mask = mx.where(allow, 0.0, -1e9)[:, None, :, :]
        for b in self.blocks:
            h = b(h, mask)
        h = self.ln(h)
        onehot = (seg[:, :, None] == mx.arange(3)[None, None, :]).astype(h.dtype)  # B,S,3
        counts = onehot.sum(axis=1)  # B,3
        pooled = (onehot.transpose(0, 2, 1) @ h) / mx.maximum(counts, 1.0)[:, :, None]
        return self.head(pooled)  # B,3,4


def loss_fn(model, x, r, c, s, y):
    logits = model(x, r, c, s)
    valid = (y >= 0)
    ce = nn.losses.cross_entropy(logits, mx.maximum(y, 0), reduction="none")
    return (ce * valid).sum() / valid.sum()


def evaluate(model, data):
    X, R, C, S, Y = data
    logits = model(mx.array(X), mx.array(R), mx.array(C), mx.array(S))
    pred = np.array(mx.argmax(logits, axis=-1))
    v = Y >= 0
    acc = float((pred[v] == Y[v]).mean())
    l = float(loss_fn(model, mx.array(X), mx.array(R), mx.array(C), mx.array(S), mx.array(Y)))
    return l, acc


train = pack(3000)
val = pack(600)
major = np.bincount(train[4][train[4] >= 0], minlength=4).argmax()
vy = val[4][val[4] >= 0]
print(f"packed train seqs {len(train[0])}  val seqs {len(val[0])}  "
      f"photos/seq {(train[4] >= 0).sum() / len(train[0]):.2f}")
print(f"majority-count baseline val acc {float((vy == major).mean()):.3f}  chance 0.250")

model = Tower()
mx.eval(model.parameters())
steps = 280
warm = 40
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, steps - warm, 1e-5)],
    [warm])
opt = optim.Adafactor(learning_rate=sched, relative_step=False, scale_parameter=False)
step_fn = nn.value_and_grad(model, loss_fn)

bs = 32
n = len(train[0])
t0 = time.time()
run = 0.0
for step in range(1, steps + 1):
    idx = rng.integers(0, n, bs)
    batch = [mx.array(a[idx]) for a in train]
    loss, grads = step_fn(model, *batch)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    run = 0.9 * run + 0.1 * float(loss) if step > 1 else float(loss)
    if step == 1:
        print(f"step    1 lr {float(sched(mx.array(0))):.2e} loss {float(loss):.4f}")
    if step % 40 == 0:
        vl, va = evaluate(model, val)
        print(f"step {step:4d} lr {opt.learning_rate.item():.2e} train {run:.4f} "
              f"val ce {vl:.4f} val acc {va:.3f} (majority {float((vy == major).mean()):.3f}) "
              f"{time.time() - t0:.1f}s")

vl, va = evaluate(model, val)
print(f"final val ce {vl:.4f} val acc {va:.3f}")
