"""Tiny character-level language model on the Zen of Python
(context window of 8 characters, MLP head)."""
import codecs
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import this  # noqa: F401  (prints the Zen once)

TEXT = codecs.decode(this.s, "rot13") * 4
CTX = 8


class CharMLP(nn.Module):
    def __init__(self, vocab, d_emb=24, d_h=128):
        super().__init__()
        self.emb = nn.Embedding(vocab, d_emb)
        self.fc = nn.Linear(CTX * d_emb, d_h)
        self.norm = nn.LayerNorm(d_h)
        self.out = nn.Linear(d_h, vocab)

    def __call__(self, x):
        h = self.emb(x).reshape(x.shape[0], -1)
        return self.out(nn.gelu(self.norm(self.fc(h))))


def build_dataset():
    chars = sorted(set(TEXT))
    stoi = {c: i for i, c in enumerate(chars)}
    ids = [stoi[c] for c in TEXT]
    xs = [ids[i:i + CTX] for i in range(len(ids) - CTX)]
    ys = [ids[i + CTX] for i in range(len(ids) - CTX)]
    return mx.array(xs), mx.array(ys), len(chars)


def main():
    mx.random.seed(0)
    X, Y, vocab = build_dataset()
    model = CharMLP(vocab)
    model.set_dtype(mx.float16)
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=2e-3)

    def loss_fn(model, x, y):
        logits = model(x).astype(mx.float32)
        return nn.losses.cross_entropy(logits, y, reduction="mean")

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    n = X.shape[0]
    bs = 128
    t0 = time.time()
    running = 0.0
    for step in range(1, 601):
        idx = mx.random.randint(0, n, (bs,))
        loss, grads = loss_and_grad(model, X[idx], Y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running += loss.item()
        if step % 50 == 0:
            nll = running / 50
            running = 0.0
            tps = step * bs * CTX / (time.time() - t0)
            print(f"step {step:4d} | nll {nll:.3f} | ppl {math.exp(min(nll, 50)):8.2f} | {tps:,.0f} tok/s")


if __name__ == "__main__":
    main()
