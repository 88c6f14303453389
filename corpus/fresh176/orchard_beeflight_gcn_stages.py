"""Orchard fruit-set per tree from a bee-flight neighbour graph.

Each apple tree needs pollen from nearby trees of a *compatible* variety, carried
by bees along short flights.  We hand-roll a two-layer GCN over the k-NN flight graph
and train it in two stages: stage A on the full graph, stage B with DropEdge (30 % of
the flight edges dropped every step) which makes the training loss jump up before it
settles.  Each stage restarts its own step counter and warms the lr up from 0.
"""
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(176)
N_TREES, K = 240, 6

# --- synthetic orchard --------------------------------------------------------
pos = rng.uniform(0, 100, size=(N_TREES, 2))           # metres
variety = rng.integers(0, 3, size=N_TREES)               # 3 cultivars
bloom = rng.normal(0, 1, size=N_TREES)                   # bloom-day offset (std)
hive_d = np.min(np.linalg.norm(pos[:, None] - np.array([[20, 20], [80, 70]])[None], axis=-1), axis=1) / 50.0
age = rng.uniform(0, 1, size=N_TREES)
spray = (rng.uniform(size=N_TREES) < 0.2).astype(np.float64)

d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
np.fill_diagonal(d, np.inf)
nbr = np.argsort(d, axis=1)[:, :K]
A = np.zeros((N_TREES, N_TREES))
for i in range(N_TREES):
    A[i, nbr[i]] = 1.0
A = np.maximum(A, A.T)
edges = np.argwhere(np.triu(A) > 0)

# compatible pollen arriving: neighbours of another variety whose bloom overlaps
compat = (variety[:, None] != variety[None]).astype(np.float64)
overlap = np.exp(-0.5 * (bloom[:, None] - bloom[None]) ** 2)
donor = (A * compat * overlap).sum(1) / np.maximum(A.sum(1), 1)
fruit_set = 100 * (1 / (1 + np.exp(-(3.0 * donor - 1.2 * hive_d + 0.6 * age - 0.8 * spray - 0.3))))
fruit_set += rng.normal(0, 2.0, size=N_TREES)           # percent of flowers setting fruit

X = np.concatenate([np.eye(3)[variety], bloom[:, None], hive_d[:, None], age[:, None], spray[:, None]], 1)
y_mean, y_std = fruit_set.mean(), fruit_set.std()
X = mx.array(X.astype(np.float32))
Y = mx.array(((fruit_set - y_mean) / y_std).astype(np.float32))

perm = rng.permutation(N_TREES)
tr, va, te = perm[:150], perm[150:195], perm[195:]
tr_i, va_i, te_i = (mx.array(s) for s in (tr, va, te))


def norm_adj(edge_list):
    a = np.zeros((N_TREES, N_TREES), dtype=np.float32)
    a[edge_list[:, 0], edge_list[:, 1]] = 1
    a[edge_list[:, 1], edge_list[:, 0]] = 1
    a += np.eye(N_TREES, dtype=np.float32)
    dinv = 1.0 / np.sqrt(a.sum(1))
    return mx.array(a * dinv[:, None] * dinv[None])


A_full = norm_adj(edges)


class FlightGCN(nn.Module):
    def __init__(self, d_in, h):
        super().__init__()
        self.w1 = nn.Linear(d_in, h)
        self.w2 = nn.Linear(h, h)
        self.self_skip = nn.Linear(d_in, h)
        self.head = nn.Linear(h, 1)

    def __call__(self, x, a):
        h = nn.relu(a @ self.w1(x))
        h = nn.relu(a @ self.w2(h) + self.self_skip(x))
        return self.head(h).squeeze(-1)


model = FlightGCN(X.shape[1], 48)
mx.eval(model.parameters())


def loss_fn(m, a, idx):
    p = m(X, a)
    return mx.mean((p[idx] - Y[idx]) ** 2)


grad_fn = nn.value_and_grad(model, loss_fn)


def scores(a, idx):
    p = model(X, a)[idx] * y_std + y_mean
    t = Y[idx] * y_std + y_mean
    mae = mx.mean(mx.abs(p - t)).item()
    r2 = 1 - (mx.sum((p - t) ** 2) / mx.sum((t - mx.mean(t)) ** 2)).item()
    return mae, r2


base_mae = float(np.mean(np.abs(fruit_set[va] - fruit_set[tr].mean())))
print(f"orchard: {N_TREES} trees, {len(edges)} flight edges, fruit set {fruit_set.mean():.1f}% +- {fruit_set.std():.1f}")
print(f"train/val/test = {len(tr)}/{len(va)}/{len(te)}   val MAE if we always guess the train mean: {base_mae:.2f} pp")

stages = [("A full-graph", 0.0, 300, 3e-3), ("B drop-edge", 0.30, 200, 1.5e-3)]
fmt = "| {:<12} | {:>4} | {:>9} | {:>8} | {:>7} | {:>6} | {:>9} |"
print(fmt.format("stage", "step", "lr", "mse(z)", "val pp", "val R2", "base pp"))
print(fmt.format(*["-" * w for w in (12, 4, 9, 8, 7, 6, 9)]))
for name, p_drop, steps, peak in stages:
    warm = 40
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, peak * 0.05)], [warm])
    opt = optim.Adamax(learning_rate=sched)
    for step in range(steps):
        if p_drop > 0:
            keep = rng.uniform(size=len(edges)) >= p_drop
            a = norm_adj(edges[keep])
        else:
            a = A_full
        lr_now = opt.learning_rate.item() if step > 0 else 0.0
        loss, grads = grad_fn(model, a, tr_i)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 25 == 0 or step == steps - 1:
            mae, r2 = scores(A_full, va_i)
            print(fmt.format(name, step, f"{lr_now:.2e}", f"{loss.item():.4f}", f"{mae:.2f}", f"{r2:.3f}", f"{base_mae:.2f}"))

# audit: every weight got gradient signal on the last step
_, g = grad_fn(model, A_full, tr_i)
from mlx.utils import tree_flatten
gn = {k: float(mx.sqrt(mx.sum(v * v)).item()) for k, v in tree_flatten(g)}
print("grad-norm audit:", ", ".join(f"{k}={v:.2e}" for k, v in gn.items()))
mae_te, r2_te = scores(A_full, te_i)
print(f"TEST  fruit-set MAE {mae_te:.2f} pp (mean-guess {np.mean(np.abs(fruit_set[te] - fruit_set[tr].mean())):.2f} pp)  R2 {r2_te:.3f}")
