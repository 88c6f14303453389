"""Tiny GPT pretraining on a synthetic order-2 Markov token stream.

Gradient accumulation over micro-batches, AdamW, cosine LR with linear warmup
(nanoGPT-style get_learning_rate).
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as opt
from mlx.utils import tree_flatten, tree_map

VOCAB = 16
CTX = 32


def make_stream(n_tokens, seed=0):
    rng = np.random.default_rng(seed)
    table = rng.integers(0, VOCAB, size=(VOCAB, VOCAB))  # preferred next token
    toks = np.zeros(n_tokens, dtype=np.int32)
    toks[:2] = rng.integers(0, VOCAB, size=2)
    noise = rng.random(n_tokens)
    rnd = rng.integers(0, VOCAB, size=n_tokens)
    for i in range(2, n_tokens):
        toks[i] = table[toks[i - 2], toks[i - 1]] if noise[i] < 0.85 else rnd[i]
    return toks


def iterate_batches(data, batch_size, seed=1):
    rng = np.random.default_rng(seed)
    while True:
        starts = rng.integers(0, len(data) - CTX - 1, size=batch_size)
        x = np.stack([data[s : s + CTX] for s in starts])
        y = np.stack([data[s + 1 : s + CTX + 1] for s in starts])
        yield mx.array(x), mx.array(y)


class GPT(nn.Module):
    def __init__(self, n_layer=2, n_embd=64, n_head=4):
        super().__init__()
        self.wte = nn.Embedding(VOCAB, n_embd)
        self.wpe = nn.Embedding(CTX, n_embd)
        self.blocks = nn.TransformerEncoder(n_layer, n_embd, n_head, norm_first=True)
        self.head = nn.Linear(n_embd, VOCAB)

    def __call__(self, x):
        L = x.shape[1]
        h = self.wte(x) + self.wpe(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        return self.head(self.blocks(h, mask))

    def loss(self, x, y):
        return nn.losses.cross_entropy(self(x), y, reduction="mean")


def get_learning_rate(it, max_lr, min_lr, warmup_iters, lr_decay_iters):
    if it < warmup_iters:
        return max_lr * (it + 1) / warmup_iters
    if it > lr_decay_iters:
        return min_lr
    ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    coeff = 0.5 * (1.0 + math.cos(math.pi * ratio))
    return min_lr + coeff * (max_lr - min_lr)


def main():
    mx.random.seed(0)
    data = make_stream(60_000)
    train, val = data[:50_000], data[50_000:]

    num_iters = 100  # optimizer steps
    batch_size = 8
    grad_accumulation_steps = 6
    max_lr = 3e-3
    min_lr = 0.0
    warmup_iters = 10
    lr_decay_iters = 100

    model = GPT()
    mx.eval(model.parameters())
    nparams = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"training a custom GPT model with {nparams / 1e6:.3f} M parameters")

    optimizer = opt.AdamW(learning_rate=max_lr, weight_decay=0.01)
    loss_and_grad_fn = nn.value_and_grad(model, model.loss)

    vx, vy = next(iterate_batches(val, 256, seed=7))

    train_iterator = iterate_batches(train, batch_size)
    accumulated_grads = tree_map(lambda p: mx.zeros_like(p), model.parameters())
    accumulated_loss = 0.0
    full_iteration_count = 0
    last_report = 0
    total_micro_batch_iters = num_iters * grad_accumulation_steps
    tic = time.perf_counter()
    for it in range(total_micro_batch_iters):
        inputs, targets = next(train_iterator)
        curr_lr = get_learning_rate(it, max_lr, min_lr, warmup_iters, lr_decay_iters)
        optimizer.learning_rate = curr_lr

        loss, grads = loss_and_grad_fn(inputs, targets)
        accumulated_grads = tree_map(
            lambda acc, g: acc + g / grad_accumulation_steps, accumulated_grads, grads
        )
        mx.eval(loss, accumulated_grads)
        accumulated_loss += loss.item()

        if (it + 1) % grad_accumulation_steps == 0:
            optimizer.update(model, accumulated_grads)
            mx.eval(model.parameters(), optimizer.state)
            accumulated_grads = tree_map(lambda p: mx.zeros_like(p), model.parameters())
            average_loss = accumulated_loss / grad_accumulation_steps
            accumulated_loss = 0.0
            full_iteration_count += 1
            if full_iteration_count % 10 == 0 or full_iteration_count == 1:
                val_loss = model.loss(vx, vy).item()
                toc = time.perf_counter()
                print(
                    f"iter {full_iteration_count}: train loss {average_loss:.3f}, "
                    f"val loss {val_loss:.3f}, lr {curr_lr:.2e}, "
                    f"it/sec {(full_iteration_count - last_report) / (toc - tic):.2f}"
                )
                last_report = full_iteration_count
                tic = time.perf_counter()


if __name__ == "__main__":
    main()
