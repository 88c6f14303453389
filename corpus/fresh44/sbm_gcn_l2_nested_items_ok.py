# Semi-supervised node classification on a synthetic 3-community graph with a
# small stack of GCN layers, Adam and an explicit L2 penalty in the loss.
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten


class GCNLayer(nn.Module):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, bias)

    def __call__(self, x, adj):
        return adj @ self.linear(x)


class GCN(nn.Module):
    def __init__(self, x_dim, h_dim, out_dim, nb_layers=2, dropout=0.3):
        super().__init__()
        sizes = [x_dim] + [h_dim] * nb_layers + [out_dim]
        self.gcn_layers = [GCNLayer(i, o) for i, o in zip(sizes[:-1], sizes[1:])]
        self.dropout = nn.Dropout(p=dropout)

    def __call__(self, x, adj):
        for layer in self.gcn_layers[:-1]:
            x = self.dropout(nn.relu(layer(x, adj)))
        return self.gcn_layers[-1](x, adj)


def make_graph(n=600, k=3, d=48, p_in=0.025, p_out=0.005, seed=3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, size=n)
    same = y[:, None] == y[None, :]
    probs = np.where(same, p_in, p_out)
    a = (rng.random((n, n)) < probs).astype(np.float32)
    a = np.triu(a, 1)
    a = a + a.T + np.eye(n, dtype=np.float32)
    dinv = 1.0 / np.sqrt(a.sum(1))
    a_hat = a * dinv[:, None] * dinv[None, :]
    centers = rng.normal(0, 1.0, size=(k, d))
    x = centers[y] * 0.2 + rng.normal(0, 1.0, size=(n, d))
    return mx.array(x.astype(np.float32)), mx.array(y.astype(np.int32)), mx.array(a_hat)


def loss_fn(y_hat, y, weight_decay=0.0, parameters=None):
    l = mx.mean(nn.losses.cross_entropy(y_hat, y))
    if weight_decay != 0.0:
        assert parameters is not None, "Model parameters missing for L2 reg."
        l2_reg = mx.zeros((1,))
        for leaf in tree_flatten(parameters):
            l2_reg += mx.sum(leaf[1] ** 2)
        l2_reg = mx.sqrt(l2_reg)
        return l + weight_decay * l2_reg.item()
    return l


def accuracy(logits, y):
    return mx.mean(mx.argmax(logits, axis=1) == y)


def forward_fn(model, x, adj, y, train_idx, weight_decay):
    y_hat = model(x, adj)
    loss = loss_fn(y_hat[train_idx], y[train_idx], weight_decay, model.parameters())
    return loss, y_hat


def main():
    mx.random.seed(0)
    x, y, adj = make_graph()
    n = x.shape[0]
    perm = np.random.default_rng(1).permutation(n)
    train_idx = mx.array(perm[:60])
    val_idx = mx.array(perm[60:300])
    test_idx = mx.array(perm[300:])

    model = GCN(x.shape[1], 32, 3, nb_layers=2)
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=0.003)
    step = nn.value_and_grad(model, forward_fn)
    weight_decay = 5e-4

    t0 = time.time()
    for epoch in range(200):
        model.train()
        (loss, _), grads = step(model, x, adj, y, train_idx, weight_decay)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if epoch % 20 == 0 or epoch == 199:
            model.eval()
            logits = model(x, adj)
            rec = {
                "epoch": epoch,
                "train_loss": round(loss.item(), 4),
                "val_loss": round(loss_fn(logits[val_idx], y[val_idx]).item(), 4),
                "val_acc": round(accuracy(logits[val_idx], y[val_idx]).item(), 3),
                "t": round(time.time() - t0, 2),
            }
            print(json.dumps(rec), flush=True)

    model.eval()
    logits = model(x, adj)
    print(json.dumps({"final_test_acc": round(accuracy(logits[test_idx], y[test_idx]).item(), 3),
                      "chance": 0.333}))


if __name__ == "__main__":
    main()
