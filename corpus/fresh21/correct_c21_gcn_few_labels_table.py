"""Semi-supervised node classification: a 2-layer GCN on a synthetic stochastic block
model graph (800 nodes, 4 communities) where only 5 nodes per class are labelled.
The loss is masked to the 20 labelled nodes, so the (dropout-noisy) training loss
collapses towards zero within a few dozen epochs and validation accuracy plateaus early.
Progress is an ASCII table printed every 20 epochs."""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N, C, F = 800, 4, 40
P_IN, P_OUT = 0.02, 0.004


def make_graph(seed=5):
    rs = np.random.default_rng(seed)
    y = np.repeat(np.arange(C), N // C)
    rs.shuffle(y)
    same = y[:, None] == y[None, :]
    prob = np.where(same, P_IN, P_OUT)
    upper = np.triu(rs.random((N, N)) < prob, 1)
    A = (upper | upper.T).astype(np.float32) + np.eye(N, dtype=np.float32)
    deg = A.sum(1)
    d = 1.0 / np.sqrt(deg)
    A_hat = A * d[:, None] * d[None, :]
    centers = rs.normal(size=(C, F)) * 0.6
    X = (centers[y] + rs.normal(size=(N, F))).astype(np.float32)  # weak, noisy features
    train_idx = np.concatenate([np.flatnonzero(y == c)[:5] for c in range(C)])
    rest = np.setdiff1d(np.arange(N), train_idx)
    rs.shuffle(rest)
    val_idx, test_idx = rest[:300], rest[300:]
    return mx.array(A_hat), mx.array(X), mx.array(y.astype(np.int32)), train_idx, val_idx, test_idx


class GCN(nn.Module):
    def __init__(self, hidden=32, dropout=0.5):
        super().__init__()
        self.lin1 = nn.Linear(F, hidden)
        self.lin2 = nn.Linear(hidden, C)
        self.drop = nn.Dropout(dropout)

    def __call__(self, A, X):
        h = nn.relu(A @ self.lin1(self.drop(X)))
        return A @ self.lin2(self.drop(h))


def main():
    mx.random.seed(5)
    A, X, y, tr, va, te = make_graph()
    tr_m, va_m, te_m = mx.array(tr), mx.array(va), mx.array(te)
    model = GCN()
    opt = optim.AdamW(learning_rate=1e-2, weight_decay=5e-3)

    def loss_fn(model):
        logits = model(A, X)
        return nn.losses.cross_entropy(logits[tr_m], y[tr_m], reduction="mean")

    vg = nn.value_and_grad(model, loss_fn)

    def accuracy(idx):
        model.eval()
        pred = mx.argmax(model(A, X)[idx], axis=1)
        model.train()
        return (pred == y[idx]).mean().item()

    line = "+-------+------------+-----------+---------+--------+"
    print(f"labelled nodes: {len(tr)} / {N}")
    print(line)
    print("| epoch | train_loss | train_acc | val_acc | sec    |")
    print(line)
    best_val, best_ep = 0.0, 0
    t0 = time.time()
    for epoch in range(1, 301):
        model.train()
        loss, grads = vg(model)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if epoch % 20 == 0 or epoch == 1:
            tr_acc, val_acc = accuracy(tr_m), accuracy(va_m)
            if val_acc > best_val:
                best_val, best_ep = val_acc, epoch
            print(f"| {epoch:5d} | {loss.item():10.4f} | {tr_acc:9.3f} | {val_acc:7.3f} | {time.time() - t0:6.1f} |")
    print(line)
    print(f"best val acc {best_val:.3f} at epoch {best_ep}; test acc {accuracy(te_m):.3f}")


if __name__ == "__main__":
    main()
