# Tiny next-token bag-of-context language model on a synthetic Markov corpus, trained with
# gradient accumulation (many small micro-batches per optimizer step).
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as opt
from mlx.utils import tree_map

rng = np.random.default_rng(7)
V, CTX = 256, 32
T = rng.dirichlet(np.full(V, 0.05), size=V)            # sparse transition table
C = np.cumsum(T, axis=1)
u = rng.random(100_000)
corpus = np.zeros(len(u) + 1, dtype=np.int32)
for i in range(len(u)):
    corpus[i + 1] = min(np.searchsorted(C[corpus[i]], u[i]), V - 1)

def batches(bs):
    while True:
        ix = rng.integers(0, len(corpus) - CTX - 1, bs)
        x = np.stack([corpus[i:i + CTX] for i in ix])
        y = np.stack([corpus[i + 1:i + CTX + 1] for i in ix])
        yield x, y

class BagLM(nn.Module):
    """predict the token after a window from position-weighted context embeddings"""
    def __init__(self, d=512):
        super().__init__()
        self.emb = nn.Embedding(V, d)
        self.pos = mx.zeros((CTX, d))
        self.head = nn.Linear(d, V)
    def __call__(self, x):
        h = mx.tanh(self.emb(x) * mx.exp(self.pos))
        return self.head(h[:, -1] + h.mean(axis=1))
    def loss(self, x, y):
        return nn.losses.cross_entropy(self(x), y[:, -1], reduction="mean")

class Trainer:
    def __init__(self, accum=100, iters=3, bs=64, lr=2e-2):
        self.accum, self.iters = accum, iters
        self.model = BagLM()
        mx.eval(self.model.parameters())
        self.optimizer = opt.AdamW(learning_rate=lr)
        self.loss_and_grad = nn.value_and_grad(self.model, self.model.loss)
        self.acc_grads = tree_map(mx.zeros_like, self.model.parameters())
        self.acc_loss = 0.0
        self.data = batches(bs)

    def micro_step(self, x, y):
        loss, grads = self.loss_and_grad(mx.array(x), mx.array(y))
        self.acc_grads = tree_map(lambda a, g: a + g * (1.0 / self.accum), self.acc_grads, grads)
        mx.eval(self.acc_grads)
        self.acc_loss += loss.item()

    def optimizer_step(self):
        self.optimizer.update(self.model, self.acc_grads)
        mx.eval(self.model.parameters(), self.optimizer.state)
        self.acc_grads = tree_map(mx.zeros_like, self.model.parameters())

    def train(self):
        tic = time.perf_counter()
        for it in range(self.iters):
            for k in range(self.accum):
                self.micro_step(*next(self.data))
                if (k + 1) % 25 == 0:
                    print(f"  micro {k + 1}/{self.accum}  active_mem {mx.get_active_memory() / 2**20:.0f} MB", flush=True)
            self.optimizer_step()
            avg = self.acc_loss / self.accum
            self.acc_loss = 0.0
            toc = time.perf_counter()
            print(f"iter {it}: train loss {avg:.3f}, ppl {math.exp(avg):.1f}, sec/iter {toc - tic:.2f}", flush=True)
            tic = toc

if __name__ == "__main__":
    Trainer().train()
