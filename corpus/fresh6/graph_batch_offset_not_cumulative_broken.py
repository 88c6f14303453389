"""Graph-level regression with a tiny message-passing network.

Small graphs of different sizes are collated into one disjoint 'big graph'
per minibatch (node features concatenated, edge indices shifted, a
node->graph index for the readout), like PyG / mlx-graphs batching.
Logs one JSON object per epoch.
"""
import json

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(3)
mx.random.seed(3)
F = 4


def random_graph():
    n = int(rng.integers(6, 14))
    e = int(rng.integers(n, 3 * n))
    x = rng.normal(size=(n, F)).astype(np.float32)
    src, dst = rng.integers(0, n, e), rng.integers(0, n, e)
    # label: mean over nodes of the summed first feature of their in-neighbours
    agg = np.zeros(n, np.float32)
    np.add.at(agg, dst, x[src, 0])
    return x, src, dst, np.float32(agg.mean())


train = [random_graph() for _ in range(256)]
val = [random_graph() for _ in range(64)]


def collate(graphs):
    sizes = [g[0].shape[0] for g in graphs]
    offsets = [0] + sizes[:-1]          # where each graph's nodes start in the big graph
    xs = np.concatenate([g[0] for g in graphs])
    src = np.concatenate([g[1] + o for g, o in zip(graphs, offsets)])
    dst = np.concatenate([g[2] + o for g, o in zip(graphs, offsets)])
    batch = np.concatenate([np.full(n, i) for i, n in enumerate(sizes)])
    y = np.array([g[3] for g in graphs], np.float32)
    return (mx.array(xs), mx.array(src), mx.array(dst), mx.array(batch), len(graphs)), mx.array(y)


class MPNN(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.msg = nn.Linear(F, hidden)
        self.upd = nn.Linear(hidden + F, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x, src, dst, batch, n_graphs):
        m = mx.zeros((x.shape[0], self.msg.weight.shape[0])).at[dst].add(self.msg(x[src]))
        h = nn.relu(self.upd(mx.concatenate([m, x], axis=1)))
        pooled = mx.zeros((n_graphs, h.shape[1])).at[batch].add(h)
        counts = mx.zeros((n_graphs, 1)).at[batch].add(mx.ones((h.shape[0], 1)))
        return self.out(pooled / counts).squeeze(-1)


def loss_fn(model, inputs, y):
    return nn.losses.mse_loss(model(*inputs), y)


model = MPNN()
opt = optim.Adam(learning_rate=3e-3)
step = nn.value_and_grad(model, loss_fn)
val_in, val_y = collate(val)
for epoch in range(1, 41):
    order = rng.permutation(len(train))
    tr = []
    for i in range(0, len(train), 32):
        inputs, y = collate([train[j] for j in order[i:i + 32]])
        loss, grads = step(model, inputs, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tr.append(loss.item())
    if epoch % 4 == 0:
        print(json.dumps({"epoch": epoch, "train_mse": round(float(np.mean(tr)), 4),
                          "val_mse": round(loss_fn(model, val_in, val_y).item(), 4)}))
