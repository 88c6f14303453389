# Semi-supervised node classification with a 2-layer GCN on a weighted
# similarity graph (Gaussian-kernel edge weights), written in plain MLX.
# The degree helpers follow mlx_graphs.utils.scatter (degree / invert_sqrt_degree).
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
N, C, F = 3000, 4, 16
labels = rng.integers(0, C, N)
centers = rng.normal(0, 1, (C, F))
feats = 0.35 * centers[labels] + rng.normal(0, 1.0, (N, F))   # weak, noisy features

# sparse weighted graph: mostly intra-class neighbours, kernel weights in (0, 1)
src, dst, w = [], [], []
for i in range(N):
    k = rng.integers(1, 4)
    same = np.flatnonzero(labels == labels[i])
    for _ in range(k):
        j = rng.choice(same) if rng.random() < 0.85 else rng.integers(0, N)
        if j == i:
            continue
        d2 = rng.uniform(0.3, 3.0)
        wt = float(np.exp(-d2))                       # similarity weight
        src += [i, j]; dst += [j, i]; w += [wt, wt]
edge_src = mx.array(np.array(src, dtype=np.int32))
edge_dst = mx.array(np.array(dst, dtype=np.int32))
edge_w = mx.array(np.array(w, dtype=np.float32))


def degree(index, num_nodes, edge_weights=None):
    src_ = edge_weights if edge_weights is not None else mx.ones((index.shape[0],))
    return mx.zeros((num_nodes,)).at[index].add(src_)


def invert_sqrt_degree(degree):
    # isolated nodes give inf: zero them out, as in the GCN paper
    invert_sqrt_degree = degree ** (-0.5)
    invert_sqrt_degree = mx.where(
        invert_sqrt_degree == float("inf"), 0, invert_sqrt_degree
    )
    return invert_sqrt_degree


deg = degree(edge_dst, N, edge_weights=edge_w)
dis = invert_sqrt_degree(deg)
norm = dis[edge_src] * edge_w * dis[edge_dst]


class GCNConv(nn.Module):
    def __init__(self, din, dout):
        super().__init__()
        self.lin = nn.Linear(din, dout)

    def __call__(self, x):
        h = self.lin(x)
        msg = h[edge_src] * norm[:, None]
        return mx.zeros(h.shape).at[edge_dst].add(msg)


class GCN(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = GCNConv(F, 32)
        self.c2 = GCNConv(32, C)

    def __call__(self, x):
        return self.c2(nn.relu(self.c1(x)))


perm = rng.permutation(N)
train_idx = mx.array(np.sort(perm[:900]).astype(np.int32))
test_idx = mx.array(np.sort(perm[900:]).astype(np.int32))
X = mx.array(feats.astype(np.float32))
Y = mx.array(labels.astype(np.int32))

mx.random.seed(0)
model = GCN()
opt = optim.Adam(learning_rate=0.01)


def loss_fn(m):
    out = m(X)
    return nn.losses.cross_entropy(out[train_idx], Y[train_idx], reduction="mean")


step = nn.value_and_grad(model, loss_fn)
t0 = time.time()
print(f"nodes={N} edges={len(src)} train={train_idx.size} test={test_idx.size}")
print("epoch | train_ce | train_acc | test_acc")
for epoch in range(1, 301):
    loss, grads = step(model)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if epoch == 1 or epoch % 30 == 0:
        pred = mx.argmax(model(X), axis=1)
        tr = mx.mean(pred[train_idx] == Y[train_idx]).item()
        te = mx.mean(pred[test_idx] == Y[test_idx]).item()
        print(f"{epoch:5d} | {loss.item():8.4f} | {tr:9.3f} | {te:8.3f}")
print(f"done in {time.time() - t0:.1f}s, final test accuracy {te:.3f}")
