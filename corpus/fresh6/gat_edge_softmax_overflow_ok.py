"""Single-head graph attention (GAT-style) regressor on random graphs.

Node features are raw sensor readings (not standardised); the attention
weights are a softmax over each node's incoming edges, written by hand with
scatter-adds.
"""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
mx.random.seed(1)
N, E, F, H = 40, 160, 6, 32


def make_graph():
    x = (rng.normal(size=(N, F)) * 34.0 + 3.0).astype(np.float32)  # raw units
    src = rng.integers(0, N, E)
    dst = rng.integers(0, N, E)
    # target: mean of a feature over in-neighbours (0 for isolated nodes), scaled
    y = np.zeros((N, 1), np.float32)
    cnt = np.zeros((N, 1), np.float32)
    np.add.at(y, dst, x[src, :1] / 34.0)
    np.add.at(cnt, dst, 1.0)
    y = y / np.maximum(cnt, 1.0)
    return mx.array(x), mx.array(src), mx.array(dst), mx.array(y)


graphs = [make_graph() for _ in range(12)]


def edge_softmax(scores, dst, n):
    """softmax of edge scores over the incoming edges of every destination node"""
    m = mx.full((n, 1), -mx.inf).at[dst].maximum(scores)
    ex = mx.exp(scores - mx.stop_gradient(m)[dst])
    denom = mx.zeros((n, 1)).at[dst].add(ex)
    return ex / (denom[dst] + 1e-16)


class GATLayer(nn.Module):
    def __init__(self, din, dout):
        super().__init__()
        self.proj = nn.Linear(din, dout, bias=False)
        self.att_src = nn.Linear(dout, 1, bias=False)
        self.att_dst = nn.Linear(dout, 1, bias=False)

    def __call__(self, x, src, dst):
        h = self.proj(x)
        e = nn.leaky_relu(self.att_src(h)[src] + self.att_dst(h)[dst], 0.2)
        alpha = edge_softmax(e, dst, x.shape[0])
        return mx.zeros_like(h).at[dst].add(alpha * h[src])


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.gat = GATLayer(F, H)
        self.out = nn.Linear(H, 1)

    def __call__(self, x, src, dst):
        return self.out(nn.elu(self.gat(x, src, dst)))


def loss_fn(model, x, src, dst, y):
    return nn.losses.mse_loss(model(x, src, dst), y)


model = Net()
opt = optim.Adam(learning_rate=5e-3)
grad_fn = nn.value_and_grad(model, loss_fn)

for epoch in range(1, 31):
    losses = []
    for g in graphs:
        loss, grads = grad_fn(model, *g)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        losses.append(loss.item())
    print({"epoch": epoch, "mse": round(float(np.mean(losses)), 5), "last": round(losses[-1], 5)})
