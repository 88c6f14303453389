"""Two-stage recursive model index (RMI) over sorted keys.

Stage 1: a tiny tanh MLP maps a key to its approximate rank (the CDF).
Stage 2: 8 per-segment linear models refine the position; each key is routed
to a segment by the (frozen) stage-1 prediction.  Lookups then need only a
binary search inside [pred - err, pred + err], err = the segment's max error.
Progress is printed vmstat-style (header repeated every 10 rows).
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_KEYS = 40000
N_LEAF = 8
rng = np.random.default_rng(7)

# keys: a mixture of two log-normal populations (think timestamps / ids)
raw = np.concatenate([rng.lognormal(2.0, 0.5, N_KEYS // 2),
                      rng.lognormal(3.4, 0.3, N_KEYS - N_KEYS // 2)])
raw = np.unique(raw)
raw.sort()
n = raw.size
keys = ((raw - raw.min()) / (raw.max() - raw.min())).astype(np.float32)
pos = (np.arange(n) / (n - 1)).astype(np.float32)
X = mx.array(keys[:, None])
Y = mx.array(pos[:, None])


class Root(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(1, 16)
        self.l2 = nn.Linear(16, 16)
        self.out = nn.Linear(16, 1)

    def __call__(self, x):
        h = mx.tanh(self.l1(4.0 * x - 2.0))
        h = mx.tanh(self.l2(h))
        return self.out(h)


class Leaves(nn.Module):
    def __init__(self):
        super().__init__()
        # one (slope, intercept) pair per segment, acting on the key
        self.coef = mx.concatenate([mx.ones((N_LEAF, 1)), mx.zeros((N_LEAF, 1))], axis=1)

    def __call__(self, x, leaf):
        c = self.coef[leaf]                      # (B, 2)
        return c[:, :1] * x + c[:, 1:]


def header():
    print(f"{'phase':>5} {'step':>5} {'mse':>10} {'mean_err':>9} {'max_err':>8} {'win':>6} {'lr':>9} {'sec':>6}")


row_count = [0]


def row(phase, step, mse, mean_err, max_err, win, lr, t0):
    if row_count[0] % 10 == 0:
        header()
    row_count[0] += 1
    print(f"{phase:>5} {step:>5} {mse:10.3e} {mean_err:9.1f} {max_err:8.0f} {win:6.0f} {lr:9.2e} {time.perf_counter() - t0:6.1f}")


def zero_grad_leaves(grads):
    return [k for k, g in tree_flatten(grads) if float(mx.abs(g).max()) == 0.0]


t0 = time.perf_counter()
print(f"# keys={n} leaves={N_LEAF} binary-search baseline window={n} slots ({math.ceil(math.log2(n))} probes)")

# ---------------- stage 1: the root model ----------------
mx.random.seed(0)
root = Root()
mx.eval(root.parameters())
sched = optim.join_schedules([optim.linear_schedule(1e-4, 3e-3, 100),
                              optim.cosine_decay(3e-3, 1400, 1e-4)], [100])
opt1 = optim.Adam(learning_rate=sched)


def root_loss(m, x, y):
    return nn.losses.mse_loss(m(x), y)


root_vg = nn.value_and_grad(root, root_loss)
B = 512
for step in range(1, 1501):
    idx = mx.array(rng.integers(0, n, B))
    loss, grads = root_vg(root, X[idx], Y[idx])
    if step == 1:
        print(f"# stage1 zero-gradient leaves: {zero_grad_leaves(grads) or 'none'}")
    opt1.update(root, grads)
    mx.eval(root.parameters(), opt1.state, loss)
    if step in (1, 10, 100) or step % 250 == 0:
        p = root(X)
        err = mx.abs(p - Y) * (n - 1)
        mse = nn.losses.mse_loss(p, Y)
        mx.eval(err, mse)
        row("root", step, mse.item(), err.mean().item(), err.max().item(),
            2 * err.max().item() + 1, opt1.learning_rate.item(), t0)

# ---------------- stage 2: per-segment linear leaves ----------------
root.freeze()
leaf_id = mx.clip(mx.floor(root(X)[:, 0] * N_LEAF), 0, N_LEAF - 1).astype(mx.int32)
mx.eval(leaf_id)
counts = np.bincount(np.array(leaf_id), minlength=N_LEAF)
print(f"# keys per segment: {counts.tolist()}")

leaves = Leaves()
mx.eval(leaves.parameters())
opt2 = optim.Adam(learning_rate=0.02)


def leaf_loss(m, x, leaf, y):
    return nn.losses.mse_loss(m(x, leaf), y)


leaf_vg = nn.value_and_grad(leaves, leaf_loss)


def leaf_errors():
    p = leaves(X, leaf_id)
    err = mx.abs(p - Y)[:, 0] * (n - 1)
    mx.eval(err)
    e = np.array(err)
    per_leaf = np.array([e[np.array(leaf_id) == j].max() if counts[j] else 0.0 for j in range(N_LEAF)])
    return e, per_leaf


for step in range(1, 2001):
    loss, grads = leaf_vg(leaves, X, leaf_id, Y)
    if step == 1:
        g = np.array(grads["coef"])
        dead = [j for j in range(N_LEAF) if np.all(g[j] == 0)]
        print(f"# stage2 segments with zero gradient: {dead or 'none'}")
    opt2.update(leaves, grads)
    mx.eval(leaves.parameters(), opt2.state, loss)
    if step in (1, 10, 100) or step % 400 == 0:
        e, per_leaf = leaf_errors()
        win = float(np.mean(2 * per_leaf[np.array(leaf_id)] + 1))
        row("leaf", step, float(np.mean((e / (n - 1)) ** 2)), e.mean(), e.max(), win, 0.02, t0)

e, per_leaf = leaf_errors()
win = 2 * per_leaf[np.array(leaf_id)] + 1
print(f"# final: mean |pos err| {e.mean():.1f} slots, max {e.max():.0f}; "
      f"mean search window {win.mean():.0f} slots -> {np.log2(win).mean():.1f} probes vs {math.log2(n):.1f}")
print("# per-segment max error: " + " ".join(f"{v:.0f}" for v in per_leaf))
