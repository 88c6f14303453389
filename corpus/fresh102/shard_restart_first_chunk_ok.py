"""Tiny MLX pre-training run over token shards (char-level, synthetic corpus).

Streams (x, y) chunks shard by shard, restarts the stream when it runs out,
trains a small windowed MLP language model with AdamW + cosine LR.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB = 24
SEQ_LEN = 32
BATCH_SIZE = 8
TOTAL_STEPS = 360
LOG_INTERVAL = 30
CONTEXT = 4


# ---------------------------------------------------------------- data
def make_corpus(n_tokens, seed):
    """Order-2 Markov text with a fixed random transition table."""
    rng = np.random.default_rng(1234)
    table = rng.dirichlet(np.full(VOCAB, 0.15), size=(VOCAB, VOCAB))
    rs = np.random.default_rng(seed)
    out = np.zeros(n_tokens, dtype=np.int32)
    out[:2] = rs.integers(0, VOCAB, 2)
    for i in range(2, n_tokens):
        out[i] = rs.choice(VOCAB, p=table[out[i - 2], out[i - 1]])
    return out


def build_shards(n_shards, tokens_per_shard, seed):
    return [make_corpus(tokens_per_shard, seed + s) for s in range(n_shards)]


def stream_shards(shards, seq_len):
    for shard in shards:
        n = (len(shard) - 1) // seq_len
        for i in range(n):
            a = shard[i * seq_len: (i + 1) * seq_len + 1]
            yield mx.array(a[:-1]), mx.array(a[1:])


def token_chunk_iterator(shards, seq_len):
    for x, y in stream_shards(shards, seq_len):
        yield x, y


# ---------------------------------------------------------------- model
class WindowLM(nn.Module):
    def __init__(self, vocab, dim=32, hidden=128, context=CONTEXT):
        super().__init__()
        self.context = context
        self.embed = nn.Embedding(vocab, dim)
        self.fc1 = nn.Linear(dim * context, hidden)
        self.fc2 = nn.Linear(hidden, vocab)

    def __call__(self, x):
        h = self.embed(x)                                   # B, L, D
        B, L, D = h.shape
        padded = mx.concatenate([mx.zeros((B, self.context - 1, D)), h], axis=1)
        window = mx.concatenate(
            [padded[:, k: k + L, :] for k in range(self.context)], axis=-1)
        return self.fc2(nn.gelu(self.fc1(window)))


def cosine_lr(step, warmup, total, peak, floor):
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * t))


def main():
    mx.random.seed(0)
    train_shards = build_shards(n_shards=4, tokens_per_shard=32 * 120 + 1, seed=10)
    val_shards = build_shards(n_shards=1, tokens_per_shard=32 * 16 + 1, seed=99)
    val_x, val_y = zip(*token_chunk_iterator(val_shards, SEQ_LEN))
    val_x, val_y = mx.stack(val_x), mx.stack(val_y)

    model = WindowLM(VOCAB)
    optimizer = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)

    data_iter = token_chunk_iterator(train_shards, SEQ_LEN)

    def next_batch():
        nonlocal data_iter
        xs, ys = [], []
        for _ in range(BATCH_SIZE):
            try:
                x, y = next(data_iter)
                xs.append(x)
                ys.append(y)
            except StopIteration:
                # Restart data iterator when exhausted
                print("Restarting data iterator...")
                data_iter = token_chunk_iterator(train_shards, SEQ_LEN)
                x, y = next(data_iter)
                xs.append(x)
                ys.append(y)
        return mx.stack(xs), mx.stack(ys)

    def loss_fn(model, xb, yb):
        logits = model(xb)
        return nn.losses.cross_entropy(logits, yb, reduction="mean")

    loss_and_grad = nn.value_and_grad(model, loss_fn)

    def evaluate():
        return loss_fn(model, val_x, val_y).item()

    print(f"[MLX] start: val loss {evaluate():.4f}  (uniform = {math.log(VOCAB):.4f})")
    tokens_processed = 0
    wall_start = time.perf_counter()
    for step in range(TOTAL_STEPS):
        optimizer.learning_rate = cosine_lr(step, 20, TOTAL_STEPS, 3e-3, 3e-4)
        xb, yb = next_batch()
        loss, grads = loss_and_grad(model, xb, yb)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        tokens_processed += int(xb.size)

        if step % LOG_INTERVAL == 0 or step == TOTAL_STEPS - 1:
            elapsed = time.perf_counter() - wall_start
            train_loss = loss.item()
            val_loss = evaluate()
            print(f"[MLX] step {step:4d} loss {train_loss:.4f} ppl {math.exp(train_loss):7.2f} "
                  f"val_loss {val_loss:.4f} val_ppl {math.exp(val_loss):7.2f} "
                  f"tok/s {tokens_processed / max(elapsed, 1e-6):,.0f}")

    print(f"[MLX] done: final val loss {evaluate():.4f}")


if __name__ == "__main__":
    main()
