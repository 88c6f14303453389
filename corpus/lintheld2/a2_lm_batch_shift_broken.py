#!/usr/bin/env python
"""Tiny character-level GRU language model on a synthetic repeating corpus."""
import argparse
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB = "abcdefghij .,"


def build_corpus(n_chars, seed=0):
    mx.random.seed(seed)
    words = ["abc", "defg", "hij", "bead", "jig", "face"]
    idx = mx.random.randint(0, len(words), (n_chars // 3,)).tolist()
    text = " ".join(words[i] for i in idx)
    ids = [VOCAB.index(c) for c in text][:n_chars]
    return mx.array(ids, dtype=mx.int32)


def iterate_windows(tokens, batch_size, context):
    """Yield (batch_size, context + 1) windows at random offsets, forever."""
    n = tokens.shape[0] - context - 1
    while True:
        starts = mx.random.randint(0, n, (batch_size,))
        offs = starts[:, None] + mx.arange(context + 1)[None, :]
        yield tokens[offs]


class CharGRU(nn.Module):
    def __init__(self, vocab, dims):
        super().__init__()
        self.embed = nn.Embedding(vocab, dims)
        self.rnn = nn.GRU(dims, dims)
        self.out = nn.Linear(dims, vocab)

    def __call__(self, ids):
        return self.out(self.rnn(self.embed(ids)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--context", type=int, default=24)
    p.add_argument("--lr", type=float, default=1e-2)
    args = p.parse_args()

    tokens = build_corpus(6000)
    lm = CharGRU(len(VOCAB), 32)
    opt = optim.Adam(learning_rate=args.lr)

    def lm_loss(model, inputs, targets):
        logits = model(inputs)
        return nn.losses.cross_entropy(logits, targets, reduction="mean")

    loss_and_grad = nn.value_and_grad(lm, lm_loss)
    windows = iterate_windows(tokens, args.batch_size, args.context)

    for step in range(1, args.steps + 1):
        batch = next(windows)
        inputs, targets = batch[:, :-1], batch[1:]
        loss, grads = loss_and_grad(lm, inputs, targets)
        opt.update(lm, grads)
        mx.eval(lm.parameters(), opt.state)
        if step == 1 or step % 25 == 0:
            print(f"step {step:4d}  loss {loss.item():.3f}  ppl {math.exp(loss.item()):.2f}")


if __name__ == "__main__":
    main()
