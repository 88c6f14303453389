"""Two-expert mixture regression: a soft router picks which linear expert handles each input."""
from functools import partial

import mlx.core as mx
import mlx.nn as nn
from mlx.optimizers import Adam
from mlx.utils import tree_flatten


class SoftMoE(nn.Module):
    def __init__(self, d_in, n_experts=2, hidden=16):
        super().__init__()
        self.router = nn.Sequential(nn.Linear(d_in, hidden), nn.Tanh(), nn.Linear(hidden, n_experts))
        self.experts = [nn.Linear(d_in, 1) for _ in range(n_experts)]

    def __call__(self, x):
        gate = mx.softmax(self.router(x), axis=-1)
        outs = mx.concatenate([e(x) for e in self.experts], axis=-1)
        return (gate * outs).sum(axis=-1)


def piecewise_data(n, d, key):
    kx, ka, kb = mx.random.split(key, 3)
    x = mx.random.normal((n, d), key=kx)
    wa = mx.random.normal((d,), key=ka)
    wb = mx.random.normal((d,), key=kb)
    y = mx.where(x[:, 0] > 0, x @ wa, x @ wb)
    return x, y


def gated_loss(moe, x, y, l2):
    pred = moe(x)
    reg = sum((p ** 2).sum() for k, p in tree_flatten(moe.parameters()["experts"]) if k.endswith("weight"))
    return ((pred - y) ** 2).mean() + l2 * reg


def snapshot(module):
    return [mx.array(p) for _, p in tree_flatten(module.parameters())]


def moved(before, module):
    return max(mx.abs(a - b).max().item() for a, (_, b) in zip(before, tree_flatten(module.parameters())))


def run():
    mx.random.seed(4)
    x, y = piecewise_data(1024, 6, mx.random.key(0))
    moe = SoftMoE(6)
    mx.eval(moe.parameters())
    router0 = snapshot(moe.router)
    opt = Adam(learning_rate=1e-2)
    step = nn.value_and_grad(moe, partial(gated_loss, l2=1e-4))

    it = 0
    while it < 400:
        idx = mx.random.randint(0, x.shape[0], (64,))
        loss, grads = step(moe, x[idx], y[idx])
        opt.update(moe, grads)
        mx.eval(moe.parameters(), opt.state)
        if it % 100 == 0:
            print(f"it {it:3d}  batch mse {loss.item():.4f}")
        it += 1

    full = ((moe(x) - y) ** 2).mean().item()
    print(f"full-data mse {full:.4f}   router max |delta| {moved(router0, moe.router):.2e}")


if __name__ == "__main__":
    run()
