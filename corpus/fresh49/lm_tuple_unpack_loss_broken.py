"""Tiny char-level LM fine-tune with a length-masked loss (mlx_lm tuner style).

The model was refactored to return only logits (no KV cache in training),
but the loss still unpacks a (logits, cache) pair.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

TEXT = (
    "the quick brown fox jumps over the lazy dog. "
    "a stitch in time saves nine. "
    "all that glitters is not gold. "
    "practice makes perfect. "
) * 8

chars = sorted(set(TEXT))
stoi = {c: i for i, c in enumerate(chars)}
VOCAB = len(chars)


class TinyLM(nn.Module):
    def __init__(self, vocab, dims=64, ctx=32):
        super().__init__()
        self.embed = nn.Embedding(vocab, dims)
        self.pos = nn.Embedding(ctx, dims)
        self.attn = nn.MultiHeadAttention(dims, 4)
        self.norm1 = nn.LayerNorm(dims)
        self.norm2 = nn.LayerNorm(dims)
        self.mlp = nn.Sequential(nn.Linear(dims, 2 * dims), nn.GELU(), nn.Linear(2 * dims, dims))
        self.out = nn.Linear(dims, vocab)

    def __call__(self, x):
        L = x.shape[1]
        h = self.embed(x) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        y = self.norm1(h)
        h = h + self.attn(y, y, y, mask)
        h = h + self.mlp(self.norm2(h))
        return self.out(h)  # logits only


def default_loss(model, inputs, targets, lengths):
    logits, _ = model(inputs)
    logits = logits.astype(mx.float32)
    length_mask = mx.arange(inputs.shape[1])[None, :] < lengths[:, None]
    ce = nn.losses.cross_entropy(logits, targets) * length_mask
    ntoks = length_mask.sum()
    ce = ce.sum() / ntoks
    return ce, ntoks


def iterate_batches(data, batch_size, seq_len, rng):
    while True:
        starts = rng.integers(0, len(data) - seq_len - 1, size=batch_size)
        x = np.stack([data[s : s + seq_len] for s in starts])
        y = np.stack([data[s + 1 : s + seq_len + 1] for s in starts])
        lengths = rng.integers(seq_len // 2, seq_len + 1, size=batch_size)
        yield mx.array(x), mx.array(y), mx.array(lengths)


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    data = np.array([stoi[c] for c in TEXT], dtype=np.int32)
    model = TinyLM(VOCAB)
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)
    loss_value_and_grad = nn.value_and_grad(model, default_loss)

    iters, report = 300, 25
    losses, n_tokens = 0.0, 0
    tic = time.perf_counter()
    batches = iterate_batches(data, batch_size=4, seq_len=32, rng=rng)
    for it in range(1, iters + 1):
        x, y, lengths = next(batches)
        (lvalue, toks), grad = loss_value_and_grad(model, x, y, lengths)
        opt.update(model, grad)
        mx.eval(model.parameters(), opt.state, lvalue, toks)
        losses += lvalue.item()
        n_tokens += toks.item()
        if it % report == 0:
            toc = time.perf_counter()
            print(
                f"Iter {it}: Train loss {losses / report:.3f}, "
                f"It/sec {report / (toc - tic):.2f}, Trained Tokens {n_tokens}",
                flush=True,
            )
            losses = 0.0
            tic = time.perf_counter()


if __name__ == "__main__":
    main()
