"""Tiny regression MLP trained with a hand-written Adam that works on flat
parameter names (so different layer groups could get different schedules later)."""
import math
import time

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map_with_path


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.proj = nn.Linear(d, d)
        self.norm = nn.LayerNorm(d)

    def __call__(self, x):
        return x + nn.gelu(self.proj(self.norm(x)))


class Net(nn.Module):
    def __init__(self, d_in=8, d=32, n_layers=3):
        super().__init__()
        self.inp = nn.Linear(d_in, d)
        self.layers = [Block(d) for _ in range(n_layers)]
        self.out = nn.Linear(d, 1)

    def __call__(self, x):
        h = self.inp(x)
        for blk in self.layers:
            h = blk(h)
        return self.out(h).squeeze(-1)


class FlatAdam:
    """Adam over a flat {dotted.name: array} view of the trainable parameters."""

    def __init__(self, lr=3e-3, b1=0.9, b2=0.999, eps=1e-8):
        self.lr, self.b1, self.b2, self.eps = lr, b1, b2, eps
        self.m, self.v, self.t = {}, {}, 0

    def step(self, model, grads):
        self.t += 1
        flat_p = dict(tree_flatten(model.trainable_parameters()))
        flat_g = dict(tree_flatten(grads))
        updates = {}
        for name, p in flat_p.items():
            g = flat_g[name]
            m = self.b1 * self.m.get(name, mx.zeros_like(p)) + (1 - self.b1) * g
            v = self.b2 * self.v.get(name, mx.zeros_like(p)) + (1 - self.b2) * g * g
            self.m[name], self.v[name] = m, v
            mhat = m / (1 - self.b1 ** self.t)
            vhat = v / (1 - self.b2 ** self.t)
            updates[name] = p - self.lr * mhat / (mx.sqrt(vhat) + self.eps)
        new_params = tree_map_with_path(
            lambda path, value: updates.get(path, value),
            model.trainable_parameters(),
        )
        model.update(new_params)
        mx.eval(model.parameters(), list(self.m.values()), list(self.v.values()))


def make_data(n=2048, d_in=8, seed=0):
    mx.random.seed(seed)
    x = mx.random.normal((n, d_in))
    w = mx.random.normal((d_in,))
    y = mx.sin(x @ w) + 0.1 * (x[:, 0] * x[:, 1])
    return x, y


def main():
    x, y = make_data()
    model = Net()
    mx.eval(model.parameters())
    opt = FlatAdam(lr=3e-3)

    def loss_fn(m, xb, yb):
        return nn.losses.mse_loss(m(xb), yb)

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    bs, steps = 64, 600
    n = x.shape[0]
    t0 = time.time()
    for step in range(1, steps + 1):
        idx = mx.random.randint(0, n, (bs,))
        loss, grads = loss_and_grad(model, x[idx], y[idx])
        opt.step(model, grads)
        if step % 50 == 0:
            full = loss_fn(model, x, y).item()
            print(f"step {step:4d}  batch_mse {loss.item():.4f}  full_mse {full:.4f}")
    print(f"done in {time.time() - t0:.1f}s, final full_mse {loss_fn(model, x, y).item():.4f}")


if __name__ == "__main__":
    main()
