"""Sorting short rows of digits with a tiny transformer encoder.

Each row of 8 digits is mapped, position by position, to the same digits in
ascending order. Reports go to stdout as CSV; notes and baselines go to stderr.
"""
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

L, V, D = 8, 10, 64
STEPS, BATCH, WARM = 250, 128, 40
rng = np.random.default_rng(3)
mx.random.seed(3)


def rows(n):
    x = rng.integers(0, V, size=(n, L))
    return mx.array(x.astype(np.int32)), mx.array(np.sort(x, axis=1).astype(np.int32))


class Sorter(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(V, D)
        self.pos = nn.Embedding(L, D)
        self.enc = nn.TransformerEncoder(2, D, 4, mlp_dims=128)
        self.head = nn.Linear(D, V)

    def __call__(self, x):
        h = self.tok(x) + self.pos(mx.arange(L))
        return self.head(self.enc(h, None))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = Sorter()
mx.eval(model.parameters())
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, STEPS - WARM, 1e-4)], [WARM]
)
opt = optim.Adam(learning_rate=sched)
vg = nn.value_and_grad(model, loss_fn)

Xv, Yv = rows(500)
echo = 100 * (Xv == Yv).astype(mx.float32).mean().item()
print(f"# val rows 500; echo-the-input baseline {echo:.1f}% per digit, chance 10.0%", file=sys.stderr)
print("step,lr,train_xent,val_digit_pct,val_row_pct,secs")
t0 = time.time()
for it in range(1, STEPS + 1):
    x, y = rows(BATCH)
    lr_now = opt.learning_rate.item()
    loss, g = vg(model, x, y)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state)
    if it % 50 == 0 or it == 1:
        model.eval()
        pred = mx.argmax(model(Xv), axis=-1)
        model.train()
        ok = (pred == Yv)
        print(f"{it},{lr_now:.2e},{loss.item():.4f},{100*ok.astype(mx.float32).mean().item():.1f},"
              f"{100*ok.all(axis=1).astype(mx.float32).mean().item():.1f},{time.time()-t0:.1f}", flush=True)
print(f"# done in {time.time()-t0:.1f}s", file=sys.stderr)
