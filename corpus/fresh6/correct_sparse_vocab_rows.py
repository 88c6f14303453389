# Bag-of-embeddings sentiment classifier with a large (20k) vocabulary taken
# from a bigger corpus. The training texts only use a few hundred token ids,
# so most embedding rows never receive a gradient and stay at their init.
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(11)
VOCAB, DIM, SEQ = 20_000, 32, 24
used_ids = rng.choice(VOCAB, size=400, replace=False)
polarity = rng.normal(size=400)


def make_split(n):
    toks = rng.integers(0, 400, size=(n, SEQ))
    y = (polarity[toks].sum(1) > 0).astype(np.int32)
    return mx.array(used_ids[toks].astype(np.int32)), mx.array(y)


Xtr, Ytr = make_split(3000)
Xte, Yte = make_split(600)


class BagClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, DIM)
        self.out = nn.Linear(DIM, 2)

    def __call__(self, x):
        return self.out(self.emb(x).mean(axis=1))


model = BagClassifier()
mx.eval(model.parameters())
opt = optim.Adagrad(learning_rate=0.02)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)
STEPS, BS = 1200, 64
t0 = time.time()
for step in range(1, STEPS + 1):
    idx = mx.array(rng.integers(0, Xtr.shape[0], size=BS))
    nll, g = vg(model, Xtr[idx], Ytr[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, nll)
    if step % 100 == 0:
        acc = (mx.argmax(model(Xte), axis=1) == Yte).mean().item()
        done = int(30 * step / STEPS)
        bar = "#" * done + "." * (30 - done)
        sys.stdout.write(f"train [{bar}] {step}/{STEPS} nll={nll.item():.3f} test_acc={acc:.3f} {time.time() - t0:.1f}s\n")
        sys.stdout.flush()
