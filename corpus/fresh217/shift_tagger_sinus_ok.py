# Tiny transformer tagger (model code after mlx-examples transformer_lm/main.py).
# Each input is a string of random symbols; the tag of position t is the
# symbol found SHIFT places to its left (first SHIFT positions are not scored).
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

VOCAB = 12
SHIFT = 2
CTX = 16
BATCH = 32
ITERS = 400


class Tagger(nn.Module):
    def __init__(self, vocab_size: int, num_layers: int, dims: int, num_heads: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dims)
        self.pe = nn.SinusoidalPositionalEncoding(dims)
        self.transformer = nn.TransformerEncoder(num_layers, dims, num_heads, norm_first=True)
        self.out_proj = nn.Linear(dims, vocab_size)

    def __call__(self, x):
        L = x.shape[1]
        x = self.embedding(x)
        x = x + self.pe(mx.arange(L))
        x = self.transformer(x, None)
        return self.out_proj(x)


def make_batch(rng, n):
    x = rng.integers(0, VOCAB, size=(n, CTX))
    y = np.zeros_like(x)
    y[:, SHIFT:] = x[:, :-SHIFT]
    return mx.array(x), mx.array(y)


def loss_fn(model, x, y):
    logits = model(x)
    return mx.mean(nn.losses.cross_entropy(logits[:, SHIFT:], y[:, SHIFT:]))


def main():
    mx.random.seed(5)
    rng = np.random.default_rng(5)
    model = Tagger(VOCAB, num_layers=1, dims=32, num_heads=2)
    mx.eval(model.parameters())
    nparams = sum(v.size for _, v in nn.utils.tree_flatten(model.trainable_parameters()))
    print(f"Training a transformer tagger with {nparams / 1e3:.1f} K parameters")

    optimizer = optim.Adam(learning_rate=3e-3)
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    val_x, val_y = make_batch(np.random.default_rng(999), 128)

    losses = []
    tic = time.perf_counter()
    for it in range(1, ITERS + 1):
        x, y = make_batch(rng, BATCH)
        loss, grads = loss_and_grad(model, x, y)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        losses.append(loss.item())
        if it % 50 == 0:
            toc = time.perf_counter()
            vl = loss_fn(model, val_x, val_y).item()
            pred = mx.argmax(model(val_x)[:, SHIFT:], axis=-1)
            acc = (pred == val_y[:, SHIFT:]).astype(mx.float32).mean().item()
            print(f"Iter {it}: Train loss {np.mean(losses):.3f}, Val loss {vl:.3f}, "
                  f"Val ppl {math.exp(vl):.2f}, Val acc {acc:.3f}, It/sec {50 / (toc - tic):.1f}")
            losses = []
            tic = time.perf_counter()
    print(f"(uniform guessing: loss ln({VOCAB}) = {math.log(VOCAB):.3f}, acc {1 / VOCAB:.3f})")


if __name__ == "__main__":
    main()
