# Character-level next-token model (embedding -> GRU -> linear) on a repeated toy text.
import time

import mlx.core as mx
import mlx.nn as mnn
import mlx.optimizers as optim

TEXT = ("the quick brown fox jumps over the lazy dog. "
        "pack my box with five dozen liquor jugs. ") * 40


class CharLM(mnn.Module):
    def __init__(self, vocab, dim=32):
        super().__init__()
        self.embed = mnn.Embedding(vocab, dim)
        self.rnn = mnn.GRU(dim, dim)
        self.proj = mnn.Linear(dim, vocab)

    def __call__(self, idx):
        return self.proj(self.rnn(self.embed(idx)))


def encode(text):
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    return mx.array([stoi[c] for c in text]), len(chars)


def sample_windows(data, ctx, bs):
    starts = mx.random.randint(0, data.size - ctx - 1, (bs,))
    offs = mx.arange(ctx)
    inp = data[starts[:, None] + offs]
    tgt = data[starts[:, None] + offs + 1]
    return inp, tgt


def token_xent(model, inp, targets):
    return mnn.losses.cross_entropy(model(inp), targets, reduction="mean")


def fit(lm, data, steps=150, ctx=24, bs=16):
    opt = optim.RMSprop(learning_rate=3e-3)
    loss_and_grad = mnn.value_and_grad(lm, token_xent)
    t0 = time.time()
    for it in range(steps):
        inp, tgt = sample_windows(data, ctx, bs)
        loss, grads = loss_and_grad(lm, inp, tgt)
        opt.update(lm, grads)
        mx.eval(lm.parameters(), opt.state, loss)
        if it % 30 == 0 or it == steps - 1:
            print(f"iter {it:4d}  xent {loss.item():.3f}  ({time.time() - t0:.1f}s)")
    return lm


if __name__ == "__main__":
    mx.random.seed(0)
    data, vocab = encode(TEXT)
    lm = CharLM(vocab)
    mx.eval(lm.parameters())
    fit(lm, data)
