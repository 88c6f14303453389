"""MLP with a decorrelating (ZCA-whitening) layer on hidden features."""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class ZCAWhiten(nn.Module):
    """Whitens a batch of features with the eigen-decomposition of their covariance."""

    def __init__(self, dim, eps=1e-3):
        super().__init__()
        self.eps = eps
        self.scale = mx.ones((dim,))

    def _whitening_matrix(self, h):
        n = h.shape[0]
        cov = mx.stop_gradient((h.T @ h) / (n - 1)) + self.eps * mx.eye(h.shape[1])
        evals, evecs = mx.linalg.eigh(cov, stream=mx.cpu)
        return (evecs * mx.rsqrt(evals)) @ evecs.T

    def __call__(self, h):
        h = h - h.mean(axis=0, keepdims=True)
        return (h @ self._whitening_matrix(h)) * self.scale


class DecorrelatedMLP(nn.Module):
    def __init__(self, d_in, hidden, n_out):
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.white = ZCAWhiten(hidden)
        self.fc2 = nn.Linear(hidden, n_out)

    def __call__(self, x):
        return self.fc2(nn.relu(self.white(self.fc1(x))))


def run():
    mx.random.seed(11)
    x = mx.random.normal((768, 10))
    y = (mx.sin(x[:, 0] * 2) + x[:, 1] * x[:, 2] > 0).astype(mx.int32)
    net = DecorrelatedMLP(10, 16, 2)
    opt = optim.Adam(learning_rate=5e-3)

    def objective(net, xb, yb):
        return nn.losses.cross_entropy(net(xb), yb, reduction="mean")

    step = nn.value_and_grad(net, objective)
    t0 = time.time()
    for it in range(250):
        idx = mx.random.randint(0, 768, (96,))
        loss, grads = step(net, x[idx], y[idx])
        opt.update(net, grads)
        mx.eval(net.parameters(), opt.state)
        if it % 50 == 0:
            print(f"iter {it:3d} loss {loss.item():.4f}")
    acc = mx.mean(mx.argmax(net(x), axis=1) == y).item()
    print(f"acc {acc:.3f} ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    run()
