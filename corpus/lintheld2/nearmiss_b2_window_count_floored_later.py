"""Sequence regression scored only inside a per-row window [start, stop).

Some rows have empty windows (start >= stop) and some batches are entirely
empty; the masked sum is normalised by the window count in a helper.
"""
import mlx.core as mx
import mlx.nn as nn
from mlx.optimizers import Adam

T, D = 32, 4


def make_batch(key, n, all_empty=False):
    k1, k2, k3 = mx.random.split(key, 3)
    x = mx.random.normal((n, T, D), key=k1)
    y = mx.cumsum(x[..., 0], axis=1) * 0.2 + x[..., 1]
    start = mx.random.randint(0, T // 2, (n,), key=k2)
    stop = start + mx.random.randint(0, T // 2, (n,), key=k3)
    if all_empty:
        stop = start
    return x, y, start, stop


def masked_error(pred, y, start, stop):
    pos = mx.arange(T)[None, :]
    window = ((pos >= start[:, None]) & (pos < stop[:, None])).astype(pred.dtype)
    return (((pred - y) ** 2) * window).sum(), window.sum()


def normalise(total, count):
    return total / mx.maximum(count, 1.0)


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(D, 32)
        self.out = nn.Linear(32, 1)

    def __call__(self, x):
        return self.out(self.rnn(x)).squeeze(-1)


def objective(net, x, y, start, stop):
    total, count = masked_error(net(x), y, start, stop)
    return normalise(total, count)


if __name__ == "__main__":
    net = Tagger()
    opt = Adam(learning_rate=3e-3)
    step_fn = nn.value_and_grad(net, objective)
    key = mx.random.key(0)
    for step in range(300):
        key, sub = mx.random.split(key)
        batch = make_batch(sub, 32, all_empty=(step % 7 == 3))
        loss, grads = step_fn(net, *batch)
        opt.update(net, grads)
        mx.eval(net.parameters(), opt.state)
        if step % 50 == 0 or step == 299:
            print(f"step {step:3d} loss {loss.item():.4f}")
    x, y, s, e = make_batch(mx.random.key(99), 256)
    print(f"held-out windowed mse {objective(net, x, y, s, e).item():.4f}")
