"""MLP with DropConnect (random weight masking, as in AWD-LSTM) and a compiled training step."""
from functools import partial
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class DropConnectLinear(nn.Linear):
    def __init__(self, d_in, d_out, p=0.3):
        super().__init__(d_in, d_out)
        self.p = p

    def __call__(self, x):
        w = self.weight
        if self.training and self.p > 0:
            keep = mx.random.bernoulli(1 - self.p, w.shape)
            w = mx.where(keep, w, 0) / (1 - self.p)
        return x @ w.T + self.bias


class DropMLP(nn.Module):
    def __init__(self, d_in=20, hidden=64, n_out=5):
        super().__init__()
        self.inp = DropConnectLinear(d_in, hidden)
        self.out = nn.Linear(hidden, n_out)

    def __call__(self, x):
        return self.out(nn.relu(self.inp(x)))


def get_data(n=1024, d=20, k=5):
    w = mx.random.normal((d, k))
    x = mx.random.normal((n, d))
    return x, mx.argmax(x @ w + 0.1 * mx.random.normal((n, k)), axis=1)


def main():
    mx.random.seed(9)
    x, y = get_data()
    xtr, ytr, xte, yte = x[:768], y[:768], x[768:], y[768:]
    clf = DropMLP()
    opt = optim.Adam(learning_rate=1e-2)

    def xent(m, a, b):
        return nn.losses.cross_entropy(m(a), b, reduction="mean")

    loss_and_grad = nn.value_and_grad(clf, xent)
    state = [clf.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(a, b):
        loss, grads = loss_and_grad(clf, a, b)
        opt.update(clf, grads)
        return loss

    w0 = mx.array(clf.inp.weight)
    clf.train()
    t0 = time.time()
    for epoch in range(6):
        perm = mx.random.permutation(768)
        for i in range(0, 768, 64):
            idx = perm[i:i + 64]
            loss = train_step(xtr[idx], ytr[idx])
            mx.eval(state)
        print(f"epoch {epoch}  loss {loss.item():.4f}")
    clf.eval()
    acc = (mx.argmax(clf(xte), axis=1) == yte).mean().item()
    frozen = (clf.inp.weight == w0).mean().item()
    print(f"test acc {acc:.3f}; fraction of DropConnect weights that never moved: {frozen:.3f}"
          f"  ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
