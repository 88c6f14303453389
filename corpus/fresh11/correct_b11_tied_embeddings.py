"""Tiny next-character model with weight tying: the output projection reuses
the embedding matrix (embed.as_linear), so there is no separate output-head
parameter at all. AdamW; prints a table of train nll and val accuracy."""
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(5)
mx.random.seed(5)

WORDS = ("the quick brown fox jumps over lazy dog while cat sleeps and bird "
         "sings a song about sun moon river stone").split()
TEXT = " ".join(random.choice(WORDS) for _ in range(1500)) + " "
chars = sorted(set(TEXT))
stoi = {c: i for i, c in enumerate(chars)}
data = mx.array([stoi[c] for c in TEXT])
V, CTX, DIM = len(chars), 8, 32
split = int(0.9 * data.size)


class TiedMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(V, DIM)
        self.mix = nn.Linear(CTX * DIM, DIM)

    def __call__(self, ctx):
        h = self.embed(ctx).reshape(ctx.shape[0], -1)
        h = nn.gelu(self.mix(h))
        return self.embed.as_linear(h)  # tied output layer


def batch(lo, hi, bs):
    starts = mx.array([random.randint(lo, hi - CTX - 1) for _ in range(bs)])
    idx = starts[:, None] + mx.arange(CTX)[None, :]
    return data[idx], data[starts + CTX]


model = TiedMLP()
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)
loss_and_grad = nn.value_and_grad(
    model, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))

print("| step | train nll | val acc |")
print("|-----:|----------:|--------:|")
for step in range(1, 801):
    x, y = batch(0, split, 64)
    loss, grads = loss_and_grad(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 100 == 0:
        vx, vy = batch(split, data.size, 256)
        acc = (mx.argmax(model(vx), axis=1) == vy).mean().item()
        print(f"| {step:4d} | {loss.item():9.4f} | {acc:7.3f} |")
print(f"final train ppl {math.exp(loss.item()):.3f}")
