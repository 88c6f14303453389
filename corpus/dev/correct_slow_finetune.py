"""Fine-tune a 'pretrained' tiny LM on a nearby domain at a small learning rate: slow progress."""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
VOCAB, CTX, DIM = 48, 24, 32


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, DIM)
        self.block = nn.Sequential(nn.Linear(DIM, 2 * DIM), nn.GELU(), nn.Linear(2 * DIM, DIM))
        self.norm = nn.RMSNorm(DIM)
        self.out = nn.Linear(DIM, VOCAB)

    def __call__(self, x):
        h = self.emb(x)
        h = h + self.block(h)
        return self.out(self.norm(h))


def corpus(n, shift, max_step):
    start = mx.random.randint(0, VOCAB, (n, 1))
    steps = mx.random.randint(1, max_step, (n, CTX + 1))
    return (start + shift * mx.cumsum(steps, axis=1)) % VOCAB


model = TinyLM()
xent = nn.value_and_grad(model, lambda m, x, y: nn.losses.cross_entropy(m(x), y).mean())

# "pretraining" on the source domain
pre = optim.Adam(learning_rate=3e-3)
source = corpus(2048, shift=1, max_step=4)
for _ in range(80):
    b = source[mx.random.randint(0, 2048, (32,))]
    _, g = xent(model, b[:, :-1], b[:, 1:])
    pre.update(model, g)
    mx.eval(model.parameters(), pre.state)

# fine-tune on the target domain: small learning rate, slow progress
target = corpus(2048, shift=1, max_step=5)
opt = optim.AdamW(learning_rate=1.5e-5, weight_decay=0.0)
tic, seen = time.perf_counter(), 0
for it in range(1, 241):
    b = target[mx.random.randint(0, 2048, (32,))]
    loss, g = xent(model, b[:, :-1], b[:, 1:])
    opt.update(model, g)
    mx.eval(loss, model.parameters(), opt.state)
    seen += b.size
    if it % 20 == 0:
        dt = time.perf_counter() - tic
        print(f"Iter {it}: Train loss {loss.item():.3f}, Learning Rate {1.5e-5:.3e}, "
              f"It/sec {20 / dt:.3f}, Tokens/sec {seen / dt:.1f}, ppl {math.exp(loss.item()):.2f}")
        tic, seen = time.perf_counter(), 0
