"""Layer-by-layer linear probes on a cached activation store of a small frozen network."""
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
mx.random.seed(7)

D_IN, D_H, N_LAYERS = 16, 48, 4
N_TRAIN, N_TEST = 3000, 1000


class FrozenStack(nn.Module):
    """A fixed residual MLP stack whose hidden states we want to read."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(D_IN, D_H)
        self.blocks = [nn.Sequential(nn.Linear(D_H, D_H), nn.GELU(), nn.Linear(D_H, D_H))
                       for _ in range(N_LAYERS)]

    def __call__(self, x):
        h = self.embed(x)
        cache = [h]
        for blk in self.blocks:
            h = h + blk(h)
            cache.append(h)
        return cache


def make_data(n):
    x = rng.normal(size=(n, D_IN)).astype(np.float32)
    # concept: sign agreement of two input coordinates (an XOR-like relation)
    y = ((x[:, 0] * x[:, 1]) > 0).astype(np.int32)
    return x, y


xtr, ytr = make_data(N_TRAIN)
xte, yte = make_data(N_TEST)

net = FrozenStack()
net.freeze()
mx.eval(net.parameters())


def cache_of(x):
    acts = net(mx.array(x))
    mx.eval(acts)
    return [np.array(a) for a in acts]


tr_cache = cache_of(xtr)
te_cache = cache_of(xte)
majority = max(yte.mean(), 1 - yte.mean())

print("layer,step,lr,train_xent,test_acc_pct,majority_pct")


def probe_layer(li, steps=400, warm=60, peak=5e-2):
    a_tr = tr_cache[li]
    mu, sd = a_tr.mean(0), a_tr.std(0) + 1e-6
    A = mx.array((a_tr - mu) / sd)
    T = mx.array((te_cache[li] - mu) / sd)
    Y = mx.array(ytr)
    probe = nn.Linear(D_H, 2)
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, 1e-4)], [warm])
    opt = optim.Adam(learning_rate=sched)

    def loss_fn(m, a, y):
        return nn.losses.cross_entropy(m(a), y, reduction="mean")

    vg = nn.value_and_grad(probe, loss_fn)
    for step in range(steps):
        idx = mx.array(rng.integers(0, N_TRAIN, 256))
        lr_now = float(opt.learning_rate)
        loss, g = vg(probe, A[idx], Y[idx])
        opt.update(probe, g)
        mx.eval(probe.parameters(), opt.state, loss)
        if step in (0, 1) or (step + 1) % 100 == 0:
            acc = float(mx.mean(mx.argmax(probe(T), axis=1) == mx.array(yte))) * 100
            print(f"{li},{step},{lr_now:.5f},{loss.item():.4f},{acc:.1f},{majority*100:.1f}")
    return acc


results = [probe_layer(li) for li in range(N_LAYERS + 1)]
best = int(np.argmax(results))
print(f"# summary: best layer {best} at {results[best]:.1f}% ; layer 0 {results[0]:.1f}% ; "
      f"majority {majority*100:.1f}% ; frozen params {sum(v.size for _, v in tree_flatten(net.parameters()))}")
