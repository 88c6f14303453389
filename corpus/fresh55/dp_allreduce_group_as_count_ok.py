"""Data-parallel ready trainer for a tiny bearing-fault classifier.

Written so the same file can be launched with `mlx.launch -n 4 train.py`
or run as a plain single process.  The gradient all-reduce helper is the one
from the MLX "Distributed Communication" docs page.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

world = mx.distributed.init()
rank, size = world.rank(), world.size()
mx.random.seed(7 + rank)

N_FEAT, N_CLASS = 24, 4


def make_shard(n, seed):
    """Vibration spectra summaries: 4 fault classes with shifted band energies."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 1.0, size=(N_CLASS, N_FEAT)).astype(np.float32)
    y = rng.integers(0, N_CLASS, size=n)
    x = centers[y] + rng.normal(0.0, 2.2, size=(n, N_FEAT)).astype(np.float32)
    return mx.array(x), mx.array(y.astype(np.int32))


# every rank sees the same class centers (seed 0) but its own samples
x_all, y_all = make_shard(18432, 0)
x_tr, y_tr = x_all[rank:16384:size], y_all[rank:16384:size]
x_va, y_va = x_all[16384:], y_all[16384:]


class FaultNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 128)
        self.l2 = nn.Linear(128, 128)
        self.out = nn.Linear(128, N_CLASS)

    def __call__(self, x):
        x = nn.silu(self.l1(x))
        x = nn.silu(self.l2(x))
        return self.out(x)


model = FaultNet()
mx.eval(model.parameters())
optimizer = optim.SGD(learning_rate=0.01, momentum=0.9)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


loss_grad_fn = nn.value_and_grad(model, loss_fn)


def all_reduce_grads(grads):
    N = mx.distributed.init().size()
    if N == 1:
        return grads
    return tree_map(lambda x: mx.distributed.all_sum(x) / N, grads)


def step(model, x, y):
    loss, grads = loss_grad_fn(model, x, y)
    grads = all_reduce_grads(grads)
    optimizer.update(model, grads)
    return loss


def accuracy(x, y):
    return (mx.argmax(model(x), axis=1) == y).astype(mx.float32).mean().item()


BATCH, STEPS = 128, 1500
n = x_tr.shape[0]
t0 = time.time()
if rank == 0:
    print(f"[rank {rank}/{size}] train={n} val={x_va.shape[0]} batch={BATCH} steps={STEPS}")
running = None
for it in range(1, STEPS + 1):
    idx = mx.array(np.random.default_rng(it * 31 + rank).integers(0, n, BATCH))
    loss = step(model, x_tr[idx], y_tr[idx])
    mx.eval(loss, model.parameters(), optimizer.state)
    lv = loss.item()
    running = lv if running is None else 0.95 * running + 0.05 * lv
    if rank == 0 and (it == 1 or it % 150 == 0):
        print(f"[rank {rank}/{size}] it {it:04d} | loss {running:.4f} | "
              f"val_acc {100 * accuracy(x_va, y_va):5.1f}% | {time.time() - t0:5.1f}s")
if rank == 0:
    print(f"[rank {rank}/{size}] done: final val_acc {100 * accuracy(x_va, y_va):.1f}%")
