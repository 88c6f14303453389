"""Byte-level MLP language model on stdlib docstrings, reported in bits per byte.

bf16 compute, float32 master weights, gradients averaged across the
(single-process) mx.distributed group, Lion with linear warm-up from 0.
"""
import math
import time
import json, argparse, collections, textwrap, string, functools, itertools, heapq

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

CTX = 8
BATCH = 128
STEPS = 560
REPORT = 80

group = mx.distributed.init()
world, rank = group.size(), group.rank()

# ---- corpus: docstrings of a few stdlib modules ---------------------------
mods = [json, argparse, collections, textwrap, string, functools, itertools, heapq]
docs = []
for m in mods:
    docs.append(m.__doc__ or "")
    for name in sorted(dir(m)):
        obj = getattr(m, name)
        d = getattr(obj, "__doc__", None)
        if isinstance(d, str) and not name.startswith("_") and callable(obj):
            docs.append(d)
raw = "\n".join(docs).encode("utf-8", "replace")
data = np.frombuffer(raw, dtype=np.uint8).astype(np.int32)
cut = int(0.9 * len(data))
train_np, valid_np = data[:cut], data[cut:]
print(("corpus", len(data), "bytes", "train", len(train_np), "valid", len(valid_np), "world", world))


class ByteMLP(nn.Module):
    def __init__(self, dim=48, hidden=192):
        super().__init__()
        self.emb = nn.Embedding(256, dim)
        self.fc1 = nn.Linear(CTX * dim, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 256)

    def __call__(self, x):
        h = self.emb(x).reshape(x.shape[0], -1)
        h = nn.gelu(self.fc1(h))
        h = h + nn.gelu(self.fc2(h))
        return self.out(h)


mx.random.seed(7)
rng = np.random.default_rng(7)
master = ByteMLP()          # float32 master copy, the optimizer updates this
mx.eval(master.parameters())
compute = ByteMLP()         # bf16 working copy used for forward/backward


def windows(arr, idx):
    xs = np.stack([arr[i:i + CTX] for i in idx])
    ys = arr[idx + CTX]
    return mx.array(xs), mx.array(ys)


def loss_fn(model, x, y):
    logits = model(x).astype(mx.float32)
    return nn.losses.cross_entropy(logits, y, reduction="mean")


grad_fn = nn.value_and_grad(compute, loss_fn)
LN2 = math.log(2.0)


def step_grads(x, y):
    compute.update(tree_map(lambda p: p.astype(mx.bfloat16), master.parameters()))
    loss, g = grad_fn(compute, x, y)
    g = tree_map(lambda a: a.astype(mx.float32), g)
    g = tree_map(lambda a: mx.distributed.all_sum(a, group=group) / world, g)
    return loss, g


def valid_bpb(n=4000):
    compute.update(tree_map(lambda p: p.astype(mx.bfloat16), master.parameters()))
    idx = np.arange(0, len(valid_np) - CTX - 1, max(1, (len(valid_np) - CTX - 1) // n))[:n]
    tot = 0.0
    for s in range(0, len(idx), 1000):
        x, y = windows(valid_np, idx[s:s + 1000])
        l = nn.losses.cross_entropy(compute(x).astype(mx.float32), y, reduction="sum")
        tot += l.item()
    return tot / len(idx) / LN2


sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 4e-4, 60), optim.cosine_decay(4e-4, STEPS - 60, 4e-5)], [60])
opt = optim.Lion(learning_rate=sched, weight_decay=0.01)

# step-0 gradient audit on the master tree
x0, y0 = windows(train_np, rng.integers(0, len(train_np) - CTX - 1, BATCH))
l0, g0 = step_grads(x0, y0)
leaves = tree_flatten(g0)
nz = sum(1 for _, a in leaves if mx.any(a != 0).item())
print(("grad_leaves", len(leaves), "nonzero", nz, "loss0_bpb", round(l0.item() / LN2, 3), "uniform_bpb", 8.0))
print(("untrained_valid_bpb", round(valid_bpb(), 3)))

t0 = time.perf_counter()
acc, cnt = 0.0, 0
for step in range(1, STEPS + 1):
    idx = rng.integers(0, len(train_np) - CTX - 1, BATCH)
    x, y = windows(train_np, idx)
    loss, g = step_grads(x, y)
    opt.update(master, g)
    mx.eval(master.parameters(), opt.state, loss)
    acc += loss.item(); cnt += 1
    if step % REPORT == 0:
        print((step, "lr", float(f"{opt.learning_rate.item():.2e}"),
               "train_bpb", round(acc / cnt / LN2, 3),
               "valid_bpb", round(valid_bpb(), 3),
               "sec", round(time.perf_counter() - t0, 1)))
        acc, cnt = 0.0, 0
print(("done", "dtype_master", str(master.fc1.weight.dtype), "dtype_compute", str(compute.fc1.weight.dtype)))
