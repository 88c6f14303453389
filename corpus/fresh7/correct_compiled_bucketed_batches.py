"""Compiled training step fed variable-size batches that are padded up to one
of three bucket sizes (32/48/64) with a per-row weight mask, so the compiled
function only ever sees three shapes: three cached variants, no growth."""
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(2)
D = 8
X = mx.random.normal((6000, D))
Y = mx.sin(X @ mx.random.normal((D, 1))) + 0.3 * X[:, :1] ** 2

model = nn.Sequential(nn.Linear(D, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-3)
state = [model.state, opt.state]
BUCKETS = (32, 48, 64)


def masked_mse(m, x, y, w):
    err = (m(x) - y) ** 2
    return (err * w).sum() / w.sum()


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y, w):
    loss, grads = nn.value_and_grad(model, masked_mse)(model, x, y, w)
    opt.update(model, grads)
    return loss


def pad_to_bucket(x, y):
    n = x.shape[0]
    size = next(b for b in BUCKETS if b >= n)
    pad = size - n
    w = mx.concatenate([mx.ones((n, 1)), mx.zeros((pad, 1))])
    if pad:
        x = mx.concatenate([x, mx.zeros((pad, D))])
        y = mx.concatenate([y, mx.zeros((pad, 1))])
    return x, y, w


rng_sizes = mx.random.randint(17, 65, (3000,)).tolist()
pos, t0, run = 0, time.perf_counter(), 0.0
for it, n in enumerate(rng_sizes, 1):
    if pos + n > X.shape[0]:
        pos = 0
    x, y, w = pad_to_bucket(X[pos:pos + n], Y[pos:pos + n])
    pos += n
    loss = step(x, y, w)
    mx.eval(state, loss)
    run = 0.98 * run + 0.02 * loss.item() if it > 1 else loss.item()
    if it % 250 == 0:
        print(f"step {it} loss {run:.5f} ({(time.perf_counter() - t0) / it * 1e3:.2f} ms/step)", flush=True)
