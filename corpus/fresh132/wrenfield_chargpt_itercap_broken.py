# Tiny char-level GPT pretraining, nanoGPT style: module-level defaults,
# then a "config file" (inlined here) overrides them via exec.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

# model
n_layer = 1
n_embd = 32
n_head = 4
context_size = 24
dropout = 0.0

# adamw optimizer
learning_rate = 6e-4  # max learning rate
min_lr = 6e-5
num_iters = 600000  # total number of training iterations
max_iters = num_iters
warmup_iters = 2000
lr_decay_iters = 600000
weight_decay = 1e-1
beta1 = 0.9
beta2 = 0.95

batch_size = 8
gradient_accumulation_steps = 2
log_interval = 20

# -----------------------------------------------------------------------------
# config/train_tiny_chars.py (what `python train.py config/train_tiny_chars.py` would exec)
TINY_CHARS_CONFIG = """
learning_rate = 3e-3
min_lr = 3e-4
num_iters = 160
warmup_iters = 20
lr_decay_iters = 160
"""
print("Overriding config with config/train_tiny_chars.py:")
print(TINY_CHARS_CONFIG.strip())
exec(TINY_CHARS_CONFIG)
# -----------------------------------------------------------------------------

rng = np.random.default_rng(7)
words = ["wren", "field", "moss", "stone", "river", "lark", "thistle", "fern"]
text = " ".join(rng.choice(words, size=6000)) + "."
chars = sorted(set(text))
vocab_size = len(chars)
stoi = {c: i for i, c in enumerate(chars)}
data = np.array([stoi[c] for c in text], dtype=np.int32)
n_split = int(0.9 * len(data))
train_data, val_data = data[:n_split], data[n_split:]


def get_batch(split):
    d = train_data if split == "train" else val_data
    ix = rng.integers(0, len(d) - context_size - 1, size=(batch_size,))
    x = np.stack([d[i : i + context_size] for i in ix])
    y = np.stack([d[i + 1 : i + 1 + context_size] for i in ix])
    return mx.array(x), mx.array(y)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(n_embd)
        self.attn = nn.MultiHeadAttention(n_embd, n_head)
        self.ln2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(context_size, n_embd)
        self.blocks = [Block() for _ in range(n_layer)]
        self.ln_f = nn.LayerNorm(n_embd)
        self.out_proj = nn.Linear(n_embd, vocab_size, bias=False)

    def __call__(self, idx):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        for b in self.blocks:
            x = b(x, mask)
        return self.out_proj(self.ln_f(x))

    def loss(self, x, y):
        logits = self(x)
        return nn.losses.cross_entropy(logits, y, reduction="mean")


def update_learning_rate(it):
    if it < warmup_iters:
        return learning_rate * it / warmup_iters
    if it > lr_decay_iters:
        return min_lr
    decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
    return min_lr + coeff * (learning_rate - min_lr)


def estimate_val_loss(model, iters=8):
    losses = [model.loss(*get_batch("val")).item() for _ in range(iters)]
    return sum(losses) / len(losses)


def main():
    mx.random.seed(0)
    model = GPT()
    mx.eval(model.parameters())
    optimizer = optim.AdamW(learning_rate=learning_rate, betas=[beta1, beta2], weight_decay=weight_decay)
    loss_and_grad_fn = nn.value_and_grad(model, model.loss)

    X, Y = get_batch("train")
    tic = time.perf_counter()
    iter_num = 0
    while True:
        new_lr = update_learning_rate(iter_num)
        optimizer.learning_rate = new_lr

        accumulated_grads = None
        accumulated_loss = 0.0
        for micro_step in range(gradient_accumulation_steps):
            loss, grads = loss_and_grad_fn(X, Y)
            scaled = tree_map(lambda g: g * (1.0 / gradient_accumulation_steps), grads)
            accumulated_grads = scaled if accumulated_grads is None else tree_map(mx.add, accumulated_grads, scaled)
            mx.eval(accumulated_grads, loss)
            accumulated_loss += loss.item()
            X, Y = get_batch("train")

        optimizer.update(model, accumulated_grads)
        mx.eval(model.parameters(), optimizer.state)

        if iter_num % log_interval == 0:
            toc = time.perf_counter()
            print(
                f"iter {iter_num}: train loss {accumulated_loss / gradient_accumulation_steps:.3f}, "
                f"val loss {estimate_val_loss(model):.3f}, "
                f"time {1000 * (toc - tic):.0f}ms, lr {new_lr:.6f}",
                flush=True,
            )
            tic = toc
        iter_num += 1

        # termination conditions
        if iter_num > max_iters:
            break

    print(f"done after {iter_num} iters; final val loss {estimate_val_loss(model, 16):.3f}")


if __name__ == "__main__":
    main()
