# Two-layer GCN on a small synthetic citation-like graph (stochastic block model),
# with L2 regularisation on the norm of all parameters, Adam, early stopping on val loss.
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
N, C, F = 240, 3, 24
labels = np.repeat(np.arange(C), N // C)
rng.shuffle(labels)
p_in, p_out = 0.08, 0.01
P = np.where(labels[:, None] == labels[None, :], p_in, p_out)
A = (rng.random((N, N)) < P).astype(np.float32)
A = np.triu(A, 1); A = A + A.T + np.eye(N, dtype=np.float32)
d = A.sum(1); Dm = 1.0 / np.sqrt(d)
adj = mx.array(Dm[:, None] * A * Dm[None, :])
centers = rng.normal(0, 1.0, (C, F))
x = mx.array((centers[labels] + rng.normal(0, 2.0, (N, F))).astype(np.float32))
y = mx.array(labels)
perm = rng.permutation(N)
train_mask, val_mask, test_mask = mx.array(perm[:60]), mx.array(perm[60:140]), mx.array(perm[140:])


class GCNLayer(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.linear = nn.Linear(i, o)

    def __call__(self, x, adj):
        return adj @ self.linear(x)


class GCN(nn.Module):
    def __init__(self, x_dim, h_dim, out_dim, dropout=0.5):
        super().__init__()
        self.gcn_layers = [GCNLayer(x_dim, h_dim), GCNLayer(h_dim, out_dim)]
        self.dropout = nn.Dropout(p=dropout)

    def __call__(self, x, adj):
        x = self.dropout(nn.relu(self.gcn_layers[0](x, adj)))
        return self.gcn_layers[1](x, adj)


def loss_fn(y_hat, y, weight_decay=0.0, parameters=None):
    l = mx.mean(nn.losses.cross_entropy(y_hat, y))
    if weight_decay != 0.0:
        l2_reg = sum(mx.sum(p[1] ** 2) for p in tree_flatten(parameters)).sqrt()
        return l + weight_decay * l2_reg.item()
    return l


def eval_fn(logits, y):
    return mx.mean(mx.argmax(logits, axis=1) == y)


def forward_fn(gcn, x, adj, y, mask, weight_decay):
    y_hat = gcn(x, adj)
    loss = loss_fn(y_hat[mask], y[mask], weight_decay, gcn.parameters())
    return loss, y_hat


mx.random.seed(0)
gcn = GCN(F, 32, C)
mx.eval(gcn.parameters())
optimizer = optim.Adam(learning_rate=0.01)
loss_and_grad_fn = nn.value_and_grad(gcn, forward_fn)
weight_decay = 0.05
best_val, cnt, patience = float("inf"), 0, 400

for epoch in range(600):
    gcn.train()
    (loss, _), grads = loss_and_grad_fn(gcn, x, adj, y, train_mask, weight_decay)
    optimizer.update(gcn, grads)
    mx.eval(gcn.parameters(), optimizer.state, loss)
    gcn.eval()
    y_hat = gcn(x, adj)
    val_loss = loss_fn(y_hat[val_mask], y[val_mask]).item()
    val_acc = eval_fn(y_hat[val_mask], y[val_mask]).item()
    wnorm = sum(mx.sum(p ** 2) for _, p in tree_flatten(gcn.parameters())).sqrt().item()
    if val_loss < best_val:
        best_val, cnt = val_loss, 0
    else:
        cnt += 1
        if cnt == patience:
            print(f"early stop at epoch {epoch}")
            break
    if epoch % 50 == 0 or epoch == 599:
        print(" | ".join([f"Epoch: {epoch:3d}", f"Train loss: {loss.item():.3f}",
                          f"Val loss: {val_loss:.3f}", f"Val acc: {val_acc:.2f}",
                          f"|w|: {wnorm:.2f}"]))

gcn.eval()
y_hat = gcn(x, adj)
print(f"Test loss: {loss_fn(y_hat[test_mask], y[test_mask]).item():.3f}  "
      f"Test acc: {eval_fn(y_hat[test_mask], y[test_mask]).item():.3f}")
