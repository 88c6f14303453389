# Tabular classifier with a hand-written BatchNorm layer.
# Running statistics are kept in underscore attributes so the optimizer never
# sees them (they are buffers, not weights).
import resource
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class BatchNorm1d(nn.Module):
    def __init__(self, dims, momentum=0.1, eps=1e-5):
        super().__init__()
        self.weight = mx.ones((dims,))
        self.bias = mx.zeros((dims,))
        self.momentum = momentum
        self.eps = eps
        # buffers: underscore keeps them out of parameters()/the optimizer
        self._running_mean = mx.zeros((dims,))
        self._running_var = mx.ones((dims,))

    def __call__(self, x):
        if self.training:
            mean = x.mean(axis=0)
            var = x.var(axis=0)
            m = self.momentum
            self._running_mean = (1 - m) * self._running_mean + m * mean
            self._running_var = (1 - m) * self._running_var + m * var
        else:
            mean, var = self._running_mean, self._running_var
        return self.weight * (x - mean) * mx.rsqrt(var + self.eps) + self.bias


class Net(nn.Module):
    def __init__(self, d_in, width, n_cls):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.bn1 = BatchNorm1d(width)
        self.head = nn.Linear(width, n_cls)

    def __call__(self, x):
        x = nn.relu(self.bn1(self.l1(x)))
        return self.head(x)


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main():
    mx.random.seed(3)
    n, d, k = 4096, 16, 5
    centers = mx.random.normal((k, d)) * 0.6
    y_all = mx.random.randint(0, k, (n,))
    x_all = centers[y_all] + mx.random.normal((n, d))
    mx.eval(x_all, y_all)

    model = Net(d, 4096, k)
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.01, momentum=0.9)

    def loss_fn(m, xb, yb):
        return nn.losses.cross_entropy(m(xb), yb, reduction="mean")

    grad_fn = nn.value_and_grad(model, loss_fn)
    bs = 64
    print(f"{'step':>6} | {'loss':>8} | {'rss MB':>8} | {'s':>6}")
    print("-" * 38)
    t0 = time.time()
    step = 0
    for epoch in range(20):
        perm = mx.random.permutation(n)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            loss, grads = grad_fn(model, x_all[idx], y_all[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            step += 1
            if step % 160 == 0:
                print(f"{step:>6} | {loss.item():>8.4f} | {rss_mb():>8.1f} | {time.time() - t0:>6.1f}",
                      flush=True)

    model.eval()
    acc = (mx.argmax(model(x_all), axis=1) == y_all).mean().item()
    print(f"final train accuracy {acc:.3f}  rss {rss_mb():.1f} MB")


if __name__ == "__main__":
    main()
