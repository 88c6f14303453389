"""Apiary inspection notes: a tiny character language model with ternary weights.

Synthetic hive-inspection log lines are modelled character by character with a
2-block causal transformer whose projection layers are BitLinear layers
(absmean ternary weights and per-token absmax 8-bit activations, both trained
through straight-through estimators).  Embedding and output head stay float.

Two-stage schedule in the BitNet b1.58 style: stage 1 warms up from lr 0 and
uses weight decay 0.1; at the stage boundary the learning rate is cut and the
weight decay is switched off, then it decays to zero.
Output: CSV on stdout (lines starting with '#' are comments).
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 7
np.random.seed(SEED)
mx.random.seed(SEED)

# ---------------------------------------------------------------- data
YARDS = ["north", "orchard", "heath", "river"]
STATUS = ["calm", "busy", "testy"]
STORES = ["light", "fair", "heavy"]


def inspection_line(rng):
    yard = rng.choice(YARDS)
    hive = rng.integers(1, 20)
    frames = rng.integers(3, 11)
    brood = min(frames, max(1, frames - rng.integers(1, 4)))
    queen = "seen" if rng.random() < 0.7 else "eggs"
    mood = rng.choice(STATUS, p=[0.6, 0.3, 0.1])
    stores = STORES[min(2, frames // 4)] if rng.random() < 0.85 else rng.choice(STORES)
    treat = "; varroa tray" if rng.random() < 0.2 else ""
    return (f"{yard} h{hive:02d}: {frames} frames, {brood} brood, queen {queen}, "
            f"{mood}, stores {stores}{treat}.\n")


rng = np.random.default_rng(SEED)
train_text = "".join(inspection_line(rng) for _ in range(3000))
val_text = "".join(inspection_line(rng) for _ in range(300))
chars = sorted(set(train_text + val_text))
stoi = {c: i for i, c in enumerate(chars)}
V = len(chars)
train_ids = np.array([stoi[c] for c in train_text], dtype=np.int32)
val_ids = np.array([stoi[c] for c in val_text], dtype=np.int32)

# bigram baseline (add-one smoothing), bits per char on validation
counts = np.ones((V, V))
np.add.at(counts, (train_ids[:-1], train_ids[1:]), 1)
probs = counts / counts.sum(1, keepdims=True)
bigram_bpc = float(-np.mean(np.log2(probs[val_ids[:-1], val_ids[1:]])))

CTX, BATCH = 32, 16


def batch_from(ids, n, rs):
    starts = rs.integers(0, len(ids) - CTX - 1, size=n)
    x = np.stack([ids[s:s + CTX] for s in starts])
    y = np.stack([ids[s + 1:s + CTX + 1] for s in starts])
    return mx.array(x), mx.array(y)


# ---------------------------------------------------------------- model
def ternary(w):
    a = mx.mean(mx.abs(w)) + 1e-6
    return mx.clip(mx.round(w / a), -1, 1) * a


def act8(x):
    s = 127.0 / mx.maximum(mx.max(mx.abs(x), axis=-1, keepdims=True), 1e-5)
    return mx.clip(mx.round(x * s), -128, 127) / s


class BitLinear(nn.Module):
    def __init__(self, din, dout):
        super().__init__()
        self.norm = nn.RMSNorm(din)
        self.weight = mx.random.normal((dout, din)) * (1.0 / math.sqrt(din))

    def __call__(self, x):
        x = self.norm(x)
        xq = x + mx.stop_gradient(act8(x) - x)
        w = self.weight
        wq = w + mx.stop_gradient(ternary(w) - w)
        return xq @ wq.T


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.qkv = BitLinear(d, 3 * d)
        self.proj = BitLinear(d, d)
        self.up = BitLinear(d, 4 * d)
        self.down = BitLinear(4 * d, d)

    def __call__(self, x, mask):
        B, L, D = x.shape
        q, k, v = mx.split(self.qkv(x), 3, axis=-1)
        sh = lambda t: t.reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3)
        q, k, v = sh(q), sh(k), sh(v)
        a = mx.fast.scaled_dot_product_attention(q, k, v, scale=(D // self.heads) ** -0.5, mask=mask)
        x = x + self.proj(a.transpose(0, 2, 1, 3).reshape(B, L, D))
        return x + self.down(nn.relu(self.up(x)) ** 2)


class CharLM(nn.Module):
    def __init__(self, vocab, d=32, heads=4, layers=2):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(CTX, d)
        self.blocks = [Block(d, heads) for _ in range(layers)]
        self.norm = nn.RMSNorm(d)
        self.head = nn.Linear(d, vocab)

    def __call__(self, ids):
        L = ids.shape[1]
        x = self.tok(ids) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        for b in self.blocks:
            x = b(x, mask)
        return self.head(self.norm(x))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = CharLM(V)
mx.eval(model.parameters())

TOTAL, SWITCH, WARM = 480, 300, 30


def lr_at(i):
    """i counts updates from 0; stage 1 warms up from exactly 0, stage 2 is a cut + cosine to 0."""
    if i < WARM:
        return 3e-3 * i / WARM
    if i < SWITCH:
        return 3e-3
    return 0.5 * 8e-4 * (1 + math.cos(math.pi * (i - SWITCH) / (TOTAL - SWITCH)))


opt = optim.AdamW(learning_rate=0.0, weight_decay=0.1, betas=[0.9, 0.95])
loss_and_grad = nn.value_and_grad(model, loss_fn)


def zero_share():
    ws = [b.weight for blk in model.blocks for b in (blk.qkv, blk.proj, blk.up, blk.down)]
    z = sum(int(mx.sum(ternary(w) == 0).item()) for w in ws)
    n = sum(w.size for w in ws)
    return 100.0 * z / n


def val_bpc():
    vr = np.random.default_rng(123)
    tot = 0.0
    for _ in range(6):
        x, y = batch_from(val_ids, 16, vr)
        tot += loss_fn(model, x, y).item()
    return tot / 6 / math.log(2)


brs = np.random.default_rng(SEED + 1)
print(f"# chars train={len(train_ids)} val={len(val_ids)} vocab={V} "
      f"params={sum(v.size for _, v in tree_flatten(model.parameters()))}")
print(f"# bigram baseline bpc={bigram_bpc:.3f}, uniform bpc={math.log2(V):.3f}")
print("step,stage,lr,wd,train_nats,val_bpc,bigram_bpc,zero_w_pct,secs")
t0 = time.time()
window = []
for step in range(1, TOTAL + 1):
    if step == SWITCH + 1:
        opt.weight_decay = 0.0
        print(f"# stage 2 from step {step}: lr cut, weight decay off")
    lr_used = lr_at(step - 1)
    opt.learning_rate = lr_used
    x, y = batch_from(train_ids, BATCH, brs)
    loss, grads = loss_and_grad(model, x, y)
    if step == 1:
        leaves = tree_flatten(grads)
        nz = sum(1 for _, g in leaves if float(mx.abs(g).sum().item()) > 0)
        print(f"# gradient leaves {nz}/{len(leaves)} non-zero; lr at step 1 = {lr_used:.1e}")
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    if step % 30 == 0:
        stage = 1 if step <= SWITCH else 2
        print(f"{step},{stage},{lr_used:.2e},{opt.weight_decay:.2f},{np.mean(window):.4f},"
              f"{val_bpc():.4f},{bigram_bpc:.4f},{zero_share():.1f},{time.time() - t0:.1f}")
        window = []
print(f"# done: val bpc {val_bpc():.3f} vs bigram {bigram_bpc:.3f}")
