"""Set classifier over variable-size point sets, zero-padded to a fixed length."""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

MAX_POINTS = 12


class ScaleNorm(nn.Module):
    """RMS-style normalisation of each point's feature vector."""

    def __init__(self, dim):
        super().__init__()
        self.gain = mx.ones((dim,))

    def __call__(self, x):
        ms = mx.mean(mx.square(x), axis=-1, keepdims=True)
        return self.gain * x * mx.rsqrt(ms)


class SetEncoder(nn.Module):
    def __init__(self, d_in, dim, n_cls):
        super().__init__()
        self.norm = ScaleNorm(d_in)
        self.phi = nn.Sequential(nn.Linear(d_in, dim), nn.Tanh(), nn.Linear(dim, dim))
        self.rho = nn.Linear(dim, n_cls)

    def __call__(self, pts, mask):
        h = self.phi(self.norm(pts)) * mask[..., None]
        pooled = h.sum(axis=1) / mask.sum(axis=1, keepdims=True)
        return self.rho(pooled)


def make_sets(n, d, rng):
    pts = np.zeros((n, MAX_POINTS, d), np.float32)
    mask = np.zeros((n, MAX_POINTS), np.float32)
    labels = rng.integers(0, 3, n)
    for i in range(n):
        k = rng.integers(3, MAX_POINTS + 1)
        centre = np.eye(d, dtype=np.float32)[labels[i]] * 2.0
        pts[i, :k] = centre + rng.normal(size=(k, d)).astype(np.float32)
        mask[i, :k] = 1.0
    return mx.array(pts), mx.array(mask), mx.array(labels)


def train_epochs(net, opt, data, epochs, bs):
    pts, mask, labels = data

    def loss_fn(net, p, m, y):
        return nn.losses.cross_entropy(net(p, m), y, reduction="mean")

    vg = nn.value_and_grad(net, loss_fn)
    for ep in range(epochs):
        total, count = 0.0, 0
        for i in range(0, pts.shape[0], bs):
            loss, grads = vg(net, pts[i:i + bs], mask[i:i + bs], labels[i:i + bs])
            opt.update(net, grads)
            mx.eval(net.parameters(), opt.state)
            total += loss.item()
            count += 1
        yield ep, total / count


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    mx.random.seed(0)
    data = make_sets(600, 5, rng)
    net = SetEncoder(5, 32, 3)
    opt = optim.Adam(learning_rate=3e-3)
    for ep, avg in train_epochs(net, opt, data, epochs=8, bs=50):
        print(f"epoch {ep} mean loss {avg:.4f}")
    logits = net(data[0], data[1])
    print("acc", mx.mean(mx.argmax(logits, axis=1) == data[2]).item())
