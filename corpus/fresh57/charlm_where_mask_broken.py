"""Tiny character-level GPT on a synthetic "grammar" corpus (nanoGPT style).

Manual attention with a lower-triangular mask buffer.  Reports the usual
teacher-forced train/val loss and, at the end, a "prefix" check: the next-token
loss measured when the model only ever sees the tokens before the target
(exactly what happens during generation).
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(11)
mx.random.seed(11)

# synthetic corpus: words drawn from a small lexicon, joined by spaces
words = ["the", "cat", "sat", "on", "mat", "dog", "ran", "to", "a", "red",
         "big", "box", "and", "hid", "in", "sun"]
text = " ".join(rng.choice(words, size=12000))
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
data = np.array([stoi[c] for c in text], dtype=np.int32)
split = int(0.9 * len(data))
train_data, val_data = data[:split], data[split:]
V, T, C, NH, NL = len(chars), 32, 64, 4, 2


def get_batch(src, bs=24):
    ix = rng.integers(0, len(src) - T - 1, size=bs)
    x = np.stack([src[i:i + T] for i in ix])
    y = np.stack([src[i + 1:i + T + 1] for i in ix])
    return mx.array(x), mx.array(y)


class CausalSelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_attn = nn.Linear(C, 3 * C)
        self.c_proj = nn.Linear(C, C)
        self._mask = mx.tril(mx.ones((T, T))).reshape(1, 1, T, T)

    def __call__(self, x):
        B, L, _ = x.shape
        q, k, v = mx.split(self.c_attn(x), 3, axis=-1)
        q = q.reshape(B, L, NH, C // NH).transpose(0, 2, 1, 3)
        k = k.reshape(B, L, NH, C // NH).transpose(0, 2, 1, 3)
        v = v.reshape(B, L, NH, C // NH).transpose(0, 2, 1, 3)
        att = (q @ k.transpose(0, 1, 3, 2)) * (1.0 / math.sqrt(C // NH))
        mask = self._mask[:, :, :L, :L]
        att = mx.where(mask == 0, att, float("-1e9"))
        att = mx.softmax(att, axis=-1)
        y = (att @ v).transpose(0, 2, 1, 3).reshape(B, L, C)
        return self.c_proj(y)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.attn = CausalSelfAttention()
        self.fc, self.proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

    def __call__(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.proj(nn.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(T, C)
        self.blocks = [Block() for _ in range(NL)]
        self.ln_f = nn.LayerNorm(C)
        self.head = nn.Linear(C, V, bias=False)

    def __call__(self, idx):
        x = self.wte(idx) + self.wpe(mx.arange(idx.shape[1]))
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln_f(x))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = GPT()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
step_fn = nn.value_and_grad(model, loss_fn)

t0 = time.time()
for it in range(1, 241):
    xb, yb = get_batch(train_data)
    loss, grads = step_fn(model, xb, yb)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 40 == 0:
        vx, vy = get_batch(val_data, 64)
        vloss = loss_fn(model, vx, vy).item()
        print(f"iter {it:4d}: train loss {loss.item():.4f}, val loss {vloss:.4f}, "
              f"time {time.time() - t0:.1f}s")

# prefix check: predict token t+1 from tokens[:t+1] only (generation setting)
vx, vy = get_batch(val_data, 64)
tot = 0.0
for L in range(4, T + 1, 4):
    logits = model(vx[:, :L])[:, -1, :]
    tot += nn.losses.cross_entropy(logits, vy[:, L - 1], reduction="mean").item()
prefix_loss = tot / (T // 4)
print(f"prefix next-token loss (generation setting): {prefix_loss:.4f}  "
      f"(uniform guess = {math.log(V):.4f})")
