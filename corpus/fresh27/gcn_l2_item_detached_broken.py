# Two-layer GCN on a synthetic citation-like graph (stochastic block model,
# sparse bag-of-words node features), full-batch training with an explicit
# L2 penalty on all parameters added to the loss.
from time import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(0)
N, C, F = 400, 4, 300
y = mx.arange(N) % C
same = (y[:, None] == y[None, :])
p = mx.where(same, 0.03, 0.012)
A = (mx.random.uniform(shape=(N, N)) < p).astype(mx.float32)
A = mx.maximum(A, A.T) + mx.eye(N)
dinv = mx.rsqrt(mx.sum(A, axis=1))
adj = dinv[:, None] * A * dinv[None, :]
topic = (mx.random.uniform(shape=(C, F)) < 0.08).astype(mx.float32)
x = ((mx.random.uniform(shape=(N, F)) < 0.03) | ((mx.random.uniform(shape=(N, F)) < 0.12) & (topic[y] > 0))).astype(mx.float32)
perm = mx.random.permutation(N)
train_mask, val_mask = perm[:24], perm[24:324]


class GCNLayer(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.linear = nn.Linear(i, o)

    def __call__(self, x, adj):
        return adj @ self.linear(x)


class GCN(nn.Module):
    def __init__(self):
        super().__init__()
        self.gcn_1 = GCNLayer(F, 64)
        self.gcn_2 = GCNLayer(64, C)
        self.dropout = nn.Dropout(0.5)

    def __call__(self, x, adj):
        return self.gcn_2(self.dropout(nn.relu(self.gcn_1(x, adj))), adj)


def loss_fn(y_hat, y, weight_decay=0.0, parameters=None):
    l = mx.mean(nn.losses.cross_entropy(y_hat, y))
    if weight_decay != 0.0:
        assert parameters is not None, "Model parameters missing for L2 reg."
        l2_reg = mx.zeros(1)
        for leaf in tree_flatten(parameters):
            l2_reg += mx.sum(leaf[1] ** 2)
        l2_reg = mx.sqrt(l2_reg)
        return l + weight_decay * l2_reg.item()
    return l


def forward_fn(gcn, x, adj, y, train_mask, weight_decay):
    y_hat = gcn(x, adj)
    loss = loss_fn(y_hat[train_mask], y[train_mask], weight_decay, gcn.parameters())
    return loss, y_hat


gcn = GCN()
mx.eval(gcn.parameters())
optimizer = optim.Adam(learning_rate=0.01)
loss_and_grad_fn = nn.value_and_grad(gcn, forward_fn)
WD = 0.05
best_val = 0.0
for epoch in range(120):
    t0 = time()
    gcn.train()
    (loss, y_hat), grads = loss_and_grad_fn(gcn, x, adj, y, train_mask, WD)
    optimizer.update(gcn, grads)
    mx.eval(gcn.parameters(), optimizer.state)
    gcn.eval()
    out = gcn(x, adj)
    val_acc = mx.mean(mx.argmax(out[val_mask], axis=1) == y[val_mask]).item()
    best_val = max(best_val, val_acc)
    if epoch % 10 == 0 or epoch == 119:
        wnorm = mx.sqrt(sum(mx.sum(v * v) for _, v in tree_flatten(gcn.parameters()))).item()
        print(" | ".join([f"Epoch: {epoch:3d}", f"Train loss: {loss.item():.3f}",
                          f"Val acc: {val_acc:.2f}", f"|W|: {wnorm:.2f}",
                          f"Time: {1e3 * (time() - t0):.1f} (ms)"]))
print(f"best val acc {best_val:.3f}")
