# Tiny char-level transformer on a synthetic "sutra" corpus, with a thermal/memory
# "governor" that picks the batch size per step (FACTORY vs STEALTH mode).
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

CONTEXT_LENGTH = 32
FACTORY_BATCH_SIZE = 16
STEALTH_BATCH_SIZE = 8
MEMORY_LIMIT_BYTES = 2 * 1024**3
MAX_STEPS = 240
LEARNING_RATE_MAX, LEARNING_RATE_MIN, WARMUP = 3e-3, 3e-4, 40

# ---- data: repetitive verse-like text with some randomness ----
words = ["atma", "is", "the", "witness", "not", "doer", "free", "of", "bondage",
         "you", "are", "pure", "awareness", "ever", "still", "and", "whole"]
rs = np.random.default_rng(1)
lines = []
for _ in range(3000):
    n = rs.integers(4, 9)
    start = rs.integers(0, len(words) - 3)
    seq = [words[(start + k) % len(words)] if rs.random() < 0.8 else words[rs.integers(len(words))]
           for k in range(n)]
    lines.append(" ".join(seq) + ".\n")
text = "".join(lines)
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
data = np.array([stoi[c] for c in text], dtype=np.int32)
split = int(0.9 * len(data))
train_data, val_data = data[:split], data[split:]
VOCAB = len(chars)


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


class SageGPT(nn.Module):
    def __init__(self, vocab, d=48, heads=4, layers=2):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(CONTEXT_LENGTH, d)
        self.blocks = [Block(d, heads) for _ in range(layers)]
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def __call__(self, idx):
        T = idx.shape[1]
        x = self.tok(idx) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T).astype(x.dtype)
        for b in self.blocks:
            x = b(x, mask)
        return self.head(self.ln_f(x))


def get_lr(it):
    if it < WARMUP:
        return LEARNING_RATE_MAX * (it + 1) / WARMUP
    coeff = 0.5 * (1.0 + math.cos(math.pi * (it - WARMUP) / (MAX_STEPS - WARMUP)))
    return LEARNING_RATE_MIN + coeff * (LEARNING_RATE_MAX - LEARNING_RATE_MIN)


def get_governor_state(step):
    active_mem = mx.get_active_memory()
    if active_mem > MEMORY_LIMIT_BYTES:
        return STEALTH_BATCH_SIZE, "SAFETY_RECOVERY"
    # alternate modes in blocks of 100 steps to mimic work hours / off hours
    return (FACTORY_BATCH_SIZE, "FACTORY") if (step // 80) % 2 == 0 else (STEALTH_BATCH_SIZE, "STEALTH")


def get_batch(src, bs):
    ix = np.random.randint(0, len(src) - CONTEXT_LENGTH - 1, bs)
    x = np.stack([src[i:i + CONTEXT_LENGTH] for i in ix])
    y = np.stack([src[i + 1:i + CONTEXT_LENGTH + 1] for i in ix])
    return mx.array(x), mx.array(y)


def main():
    np.random.seed(0)
    mx.random.seed(0)
    model = SageGPT(VOCAB)
    optimizer = optim.AdamW(learning_rate=LEARNING_RATE_MAX, weight_decay=0.01)

    def loss_fn(model, x, y):
        logits = model(x)
        return mx.mean(nn.losses.cross_entropy(logits, y))

    state = [model.state, optimizer.state, mx.random.state]

    def train_step(x, y):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
        optimizer.update(model, grads)
        return loss

    print(f"vocab={VOCAB} train_tokens={len(train_data)} params="
          f"{sum(v.size for _, v in nn.utils.tree_flatten(model.parameters()))}")
    print("Starting training loop...")
    for step in range(MAX_STEPS):
        iter_start = time.time()
        batch_size, mode = get_governor_state(step)
        optimizer.learning_rate = get_lr(step)
        x, y = get_batch(train_data, batch_size)
        loss = train_step(x, y)
        mx.eval(state)  # sync
        dt = time.time() - iter_start
        if step % 20 == 0:
            mem_gb = mx.get_active_memory() / 1024**3
            tps = batch_size * CONTEXT_LENGTH / dt
            print(f"[Step {step}] {mode} | BS:{batch_size} | Loss:{loss.item():.3f} | Mem:{mem_gb:.2f}GB | {tps:.0f} tok/s")
    xv, yv = get_batch(val_data, 64)
    print(f"final val loss {loss_fn(model, xv, yv).item():.3f}")


if __name__ == "__main__":
    main()
