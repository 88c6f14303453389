"""Node classification with a hand-rolled GCNConv (message passing on an edge list).

Synthetic graph: 3000 nodes, random symmetric edges (every node has >= 1 neighbour),
16-d node features; the class of a node is decided by its OWN features (4 classes),
neighbours are random, as in a low-homophily graph.
"""
import json
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(2)
mx.random.seed(2)

N, F, C, HID = 3000, 16, 4, 8

edges = set()
for u in range(N):
    for v in random.sample(range(N), 1):
        if u != v:
            edges.add((u, v))
            edges.add((v, u))
edge_index = mx.array(sorted(edges), dtype=mx.int32).T        # (2, E): row = source, col = target
X = mx.random.normal((N, F))
W_true = mx.random.normal((F, C))
y = mx.argmax(X @ W_true, axis=1)
perm = list(range(N))
random.shuffle(perm)
train_idx, test_idx = mx.array(perm[:2400]), mx.array(perm[2400:])


def add_self_loops(edge_index, num_nodes):
    loops = mx.arange(num_nodes, dtype=edge_index.dtype)
    return mx.concatenate([edge_index, mx.stack([loops, loops])], axis=1)


def degree(index, num_nodes):
    return mx.zeros((num_nodes,)).at[index].add(mx.ones(index.shape))


class GCNConv(nn.Module):
    def __init__(self, in_dim, out_dim, add_self_loops=False):
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim)
        self._add_self_loops = add_self_loops

    def __call__(self, edge_index, x):
        x = self.linear(x)
        if self._add_self_loops:
            edge_index = add_self_loops(edge_index, x.shape[0])
        row, col = edge_index[0], edge_index[1]
        deg = degree(col, x.shape[0])
        dinv = mx.where(deg > 0, mx.rsqrt(deg), 0.0)
        norm = dinv[row] * dinv[col]
        msg = x[row] * norm[:, None]
        return mx.zeros_like(x).at[col].add(msg)


class GCN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = GCNConv(F, HID)
        self.head = nn.Linear(HID, C)

    def __call__(self, edge_index, x):
        h = nn.relu(self.conv1(edge_index, x))
        return self.head(h)


def loss_fn(model, idx):
    logits = model(edge_index, X)[idx]
    return nn.losses.cross_entropy(logits, y[idx], reduction="mean")


def accuracy(model, idx):
    pred = mx.argmax(model(edge_index, X)[idx], axis=1)
    return (pred == y[idx]).astype(mx.float32).mean().item()


model = GCN()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=5e-3, weight_decay=5e-4)
lvg = nn.value_and_grad(model, loss_fn)

for epoch in range(1, 301):
    loss, grads = lvg(model, train_idx)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    if epoch % 20 == 0:
        print(json.dumps({"epoch": epoch, "train_loss": round(loss.item(), 4),
                          "train_acc": round(accuracy(model, train_idx), 3),
                          "test_acc": round(accuracy(model, test_idx), 3)}))
