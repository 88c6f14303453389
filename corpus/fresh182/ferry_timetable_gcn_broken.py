# Ferry-network port tagging: classify each port (local / regional / hub) from
# noisy timetable features with a small message-passing GCN.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class MessagePassing(nn.Module):
    def __init__(self, aggr="add"):
        super().__init__()
        self.aggr = aggr

    def propagate(self, x, edge_index, **kwargs):
        row, col = edge_index
        x_i = x[row]
        x_j = x[col]
        msgs = self.message(x_i, x_j, **kwargs)
        out = mx.zeros((x.shape[0], msgs.shape[1]), dtype=msgs.dtype)
        return out.at[col].add(msgs)


class GCNConv(MessagePassing):
    def __init__(self, x_dim, h_dim, bias=True):
        super().__init__(aggr="add")
        self.linear = nn.Linear(x_dim, h_dim, bias)

    def __call__(self, x, edge_index, normalize=True):
        x = self.linear(x)
        row, col = edge_index
        if normalize:
            deg = self._degree(col, x.shape[0])
            deg_inv_sqrt = deg ** (-0.5)
            norm = deg_inv_sqrt[row] * deg_inv_sqrt[col]
        else:
            norm = mx.ones_like(row)
        return self.propagate(x, edge_index, edge_weight=norm)

    def message(self, x_i, x_j, edge_weight=None):
        return x_i if edge_weight is None else edge_weight.view(-1, 1) * x_i

    def _degree(self, index, num_nodes):
        out = mx.zeros((num_nodes,))
        one = mx.ones((index.shape[0],), dtype=out.dtype)
        return out.at[index].add(one)


class PortGCN(nn.Module):
    def __init__(self, d_in, d_hid, n_cls):
        super().__init__()
        self.c1 = GCNConv(d_in, d_hid)
        self.c2 = GCNConv(d_hid, n_cls)

    def __call__(self, x, ei):
        h = nn.relu(self.c1(x, ei))
        return self.c2(h, ei)


def make_ferry_graph(rng, n=300):
    kind = rng.choice(3, size=n, p=[0.5, 0.35, 0.15])
    edges = set()
    for i in range(n):
        edges.add((i, i))
        deg = [2, 4, 9][kind[i]]
        for j in rng.choice(n, size=deg, replace=False):
            if j != i:
                same = rng.random() < 0.15
                if same or kind[j] == kind[i]:
                    edges.add((i, int(j)))
                    edges.add((int(j), i))
    e = np.array(sorted(edges)).T
    centers = np.array([[0.0, 0.0, 0.0, 0.0], [1.0, 0.5, 0.0, 0.3], [1.5, 1.5, 1.0, 0.8]])
    feats = centers[kind] + rng.normal(0, 0.8, size=(n, 4))
    return feats.astype(np.float32), e.astype(np.int32), kind.astype(np.int32)


rng = np.random.default_rng(7)
mx.random.seed(7)
X, E, Y = make_ferry_graph(rng)
perm = rng.permutation(len(Y))
train_idx, val_idx = mx.array(perm[:180]), mx.array(perm[180:])
x, ei, y = mx.array(X), mx.array(E), mx.array(Y)

model = PortGCN(4, 32, 3)
opt = optim.Adam(learning_rate=0.02)


def loss_fn(m):
    logits = m(x, ei)
    return nn.losses.cross_entropy(logits[train_idx], y[train_idx], reduction="mean")


step = nn.value_and_grad(model, loss_fn)
print(f"ports={len(Y)} sailings={E.shape[1]} train={train_idx.size} val={val_idx.size}")
t0 = time.time()
for epoch in range(1, 151):
    loss, grads = step(model)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if epoch % 15 == 0 or epoch == 1:
        pred = mx.argmax(model(x, ei), axis=1)
        tr = mx.mean(pred[train_idx] == y[train_idx]).item()
        va = mx.mean(pred[val_idx] == y[val_idx]).item()
        print(f"ep {epoch:3d} | xent {loss.item():.4f} | acc train {tr:.3f} val {va:.3f}")
print(f"done in {time.time() - t0:.1f}s")
