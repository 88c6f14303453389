"""transformer_lm-style training on a synthetic character corpus, with periodic validation."""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

text = " ".join(["the quick brown fox jumps over the lazy dog"] * 400)
chars = sorted(set(text))
ids = np.array([chars.index(c) for c in text], np.int32)
train, valid = ids[: int(0.9 * len(ids))], ids[int(0.9 * len(ids)):]
context_size, batch_size, vocab = 16, 16, len(chars)


def to_samples(context_size, dataset):
    window = context_size + 1
    n = (len(dataset) - window) // 7
    return np.stack([dataset[i * 7: i * 7 + window] for i in range(n)])


def iterate_batches(batch_size, context_size, dataset):
    samples = to_samples(context_size, dataset)
    while True:
        perm = np.random.permutation(len(samples))
        for s in range(0, len(samples) - batch_size + 1, batch_size):
            b = samples[perm[s: s + batch_size]]
            yield b[:, :-1], b[:, 1:]


class TransformerLM(nn.Module):
    def __init__(self, vocab, dims=32, heads=4, layers=1):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dims)
        self.pe = nn.SinusoidalPositionalEncoding(dims)
        self.transformer = nn.TransformerEncoder(layers, dims, heads, norm_first=True)
        self.out_proj = nn.Linear(dims, vocab)

    def __call__(self, x):
        mask = nn.MultiHeadAttention.create_additive_causal_mask(x.shape[1])
        x = self.embedding(x)
        x = x + self.pe(mx.arange(x.shape[1]))
        return self.out_proj(self.transformer(x, mask))

    def loss(self, x, y, reduce=True):
        losses = nn.losses.cross_entropy(self(x), y)
        return losses.mean() if reduce else losses.mean(axis=(-1, -2))


def main():
    np.random.seed(0)
    model = TransformerLM(vocab)
    mx.eval(model.parameters())
    nparams = sum(p.size for _, p in tree_flatten(model.parameters()))
    print(f"Training a transformer with {nparams / 1024**2:.3f} M parameters")
    optimizer = optim.SGD(learning_rate=0.05, momentum=0.9)
    loss_and_grad_fn = nn.value_and_grad(model, lambda m, x, y: m.loss(x, y))

    def eval_fn(model, dataset):
        inputs, targets = map(mx.array, (lambda s: (s[:, :-1], s[:, 1:]))(
            to_samples(context_size, dataset)))
        loss = 0
        for s in range(0, targets.shape[0], batch_size):
            bx, by = inputs[s: s + batch_size], targets[s: s + batch_size]
            loss += mx.sum(model.loss(bx, by, reduce=False)).item()
        return loss / len(targets)

    train_iterator = iterate_batches(batch_size, context_size, train)
    losses, tic = [], time.perf_counter()
    for it, (inputs, targets) in zip(range(160), train_iterator):
        inputs, targets = map(mx.array, (inputs, targets))
        loss, grads = loss_and_grad_fn(model, inputs, targets)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        losses.append(loss.item())
        if (it + 1) % 10 == 0:
            toc = time.perf_counter()
            print(f"Iter {it + 1}: Train loss {np.mean(losses):.3f}, "
                  f"It/sec {10 / (toc - tic):.3f}")
            losses, tic = [], time.perf_counter()
        if (it + 1) % 80 == 0:
            val_loss = eval_fn(params, valid)  # noqa: F821
            print(f"Iter {it + 1}: Val loss {val_loss:.3f}, Val ppl {math.exp(val_loss):.3f}")


main()
