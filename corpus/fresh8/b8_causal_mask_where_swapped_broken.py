# tiny nanoGPT-style character model (port of the torch original to MLX)
import math
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(1337)
mx.random.seed(1337)

words = ["the", "cat", "sat", "on", "mat", "a", "dog", "ran", "to", "park", "and", "ate", "food"]
text = " ".join(random.choice(words) for _ in range(4000))
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
data = mx.array([stoi[c] for c in text], dtype=mx.int32)
n = int(0.9 * data.size)
train_data, val_data = data[:n], data[n:]

block_size = 32
batch_size = 16
n_embd = 48
n_head = 4
vocab_size = len(chars)


def get_batch(split):
    d = train_data if split == "train" else val_data
    ix = [random.randint(0, d.size - block_size - 2) for _ in range(batch_size)]
    x = mx.stack([d[i : i + block_size] for i in ix])
    y = mx.stack([d[i + 1 : i + 1 + block_size] for i in ix])
    return x, y


class CausalSelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self._mask = mx.tril(mx.ones((block_size, block_size)))

    def __call__(self, x):
        B, T, C = x.shape
        q, k, v = mx.split(self.c_attn(x), 3, axis=2)
        hs = C // n_head
        q = q.reshape(B, T, n_head, hs).transpose(0, 2, 1, 3)
        k = k.reshape(B, T, n_head, hs).transpose(0, 2, 1, 3)
        v = v.reshape(B, T, n_head, hs).transpose(0, 2, 1, 3)
        att = (q @ k.transpose(0, 1, 3, 2)) * (1.0 / math.sqrt(hs))
        # torch: att.masked_fill(self.bias[:,:,:T,:T] == 0, float('-inf'))
        att = mx.where(self._mask[:T, :T] == 0, att, float("-inf"))
        att = mx.softmax(att, axis=-1)
        y = (att @ v).transpose(0, 2, 1, 3).reshape(B, T, C)
        return self.c_proj(y)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention()
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd))

    def __call__(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.h = [Block() for _ in range(2)]
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)

    def __call__(self, idx):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(mx.arange(T))
        for blk in self.h:
            x = blk(x)
        return self.lm_head(self.ln_f(x))


def loss_fn(model, x, y):
    logits = model(x)
    return nn.losses.cross_entropy(logits.reshape(-1, vocab_size), y.reshape(-1), reduction="mean")


model = GPT()
mx.eval(model.parameters())
optimizer = optim.AdamW(learning_rate=3e-3, weight_decay=0.1)
loss_and_grad = nn.value_and_grad(model, loss_fn)

max_iters = 200
eval_interval = 100
for it in range(max_iters + 1):
    if it % eval_interval == 0:
        vl = []
        for _ in range(5):
            xb, yb = get_batch("val")
            vl.append(loss_fn(model, xb, yb).item())
        print(f"step {it}: val loss {sum(vl) / len(vl):.4f}")
    t0 = time.time()
    xb, yb = get_batch("train")
    loss, grads = loss_and_grad(model, xb, yb)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state, loss)
    dt = (time.time() - t0) * 1000
    if it % 20 == 0:
        print(f"iter {it}: loss {loss.item():.4f}, time {dt:.2f}ms")
