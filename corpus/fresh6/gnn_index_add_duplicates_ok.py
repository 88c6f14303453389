"""Tiny message-passing GNN (sum aggregation) on random graphs, MLX.

Regresses, for every node, a quantity that depends on the SUM of the
messages coming from its in-neighbours (a degree-weighted feature sum).
"""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)
N_NODES, N_EDGES, F = 48, 200, 4


def make_graph():
    x = rng.normal(size=(N_NODES, F)).astype(np.float32)
    src = rng.integers(0, N_NODES, N_EDGES)
    dst = rng.integers(0, N_NODES, N_EDGES)
    # target: sum over incoming edges of a fixed linear function of the source features
    w = np.array([1.0, -0.5, 0.25, 2.0], dtype=np.float32)
    y = np.zeros((N_NODES, 1), dtype=np.float32)
    np.add.at(y, dst, (x[src] @ w)[:, None])
    return mx.array(x), mx.array(src), mx.array(dst), mx.array(y)


train_graphs = [make_graph() for _ in range(8)]
val_graphs = [make_graph() for _ in range(2)]


class SumConv(nn.Module):
    def __init__(self, din, dout):
        super().__init__()
        self.msg = nn.Linear(din, dout)
        self.self_loop = nn.Linear(din, dout)

    def __call__(self, x, src, dst):
        m = self.msg(x[src])
        agg = mx.zeros((x.shape[0], m.shape[1]))
        agg = agg.at[dst].add(m)  # scatter-add the messages onto their destination nodes
        return agg + self.self_loop(x)


class GNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = SumConv(F, 16)
        self.head = nn.Linear(16, 1)

    def __call__(self, x, src, dst):
        return self.head(self.conv(x, src, dst))


def loss_fn(model, x, src, dst, y):
    return mx.mean((model(x, src, dst) - y) ** 2)


model = GNN()
opt = optim.Adam(learning_rate=1e-2)
step = nn.value_and_grad(model, loss_fn)

for epoch in range(1, 61):
    tot = 0.0
    for g in train_graphs:
        loss, grads = step(model, *g)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    if epoch % 5 == 0:
        val = sum(loss_fn(model, *g).item() for g in val_graphs) / len(val_graphs)
        print(f"epoch {epoch:03d} | train_mse {tot / len(train_graphs):8.4f} | val_mse {val:8.4f}")
