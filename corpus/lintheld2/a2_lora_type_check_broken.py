"""Adapt a 'pretrained' scaled-MLP regressor to a shifted task with LoRA adapters."""
import math
import time

import mlx.core as mx
import mlx.optimizers as optim
from mlx import nn
from mlx.utils import tree_flatten, tree_unflatten


class ScaledLinear(nn.Linear):
    """Linear with a fixed output multiplier (muP-style width scaling)."""

    def __init__(self, d_in, d_out, scale=1.0, bias=True):
        super().__init__(d_in, d_out, bias=bias)
        self.out_scale = scale

    def __call__(self, x):
        return super().__call__(x) * self.out_scale


class Regressor(nn.Module):
    def __init__(self, d_in=8, width=64):
        super().__init__()
        self.inp = ScaledLinear(d_in, width)
        self.mid = ScaledLinear(width, width, scale=1 / math.sqrt(2))
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.mid(nn.silu(self.inp(x)))))


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank=4, alpha=8.0):
        super().__init__()
        d_out, d_in = base.weight.shape
        self.base = base
        self.scale = alpha / rank
        self.lora_a = mx.random.normal((d_in, rank)) * (1 / math.sqrt(d_in))
        self.lora_b = mx.zeros((rank, d_out))

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


def add_adapters(model, rank=4):
    swaps = [(name, LoRALinear(m, rank)) for name, m in model.named_modules()
             if type(m) is nn.Linear]
    model.update_modules(tree_unflatten(swaps))
    return len(swaps)


def task(n, shift, key):
    k1, k2 = mx.random.split(key)
    x = mx.random.normal((n, 8), key=k1)
    y = mx.sin(x[:, :1] + shift) + 0.5 * x[:, 1:2] * x[:, 2:3]
    return x, y + 0.01 * mx.random.normal(y.shape, key=k2)


def fit(model, x, y, steps, lr):
    opt = optim.Adam(learning_rate=lr)
    lg = nn.value_and_grad(model, lambda m, a, b: nn.losses.mse_loss(m(a), b))
    for i in range(steps):
        j = (i * 128) % x.shape[0]
        loss, g = lg(model, x[j : j + 128], y[j : j + 128])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
    return loss.item()


if __name__ == "__main__":
    mx.random.seed(0)
    t0 = time.time()
    net = Regressor()
    xa, ya = task(2048, 0.0, mx.random.key(1))
    print(f"pretrain loss {fit(net, xa, ya, 300, 3e-3):.4f}")

    xb, yb = task(2048, 1.5, mx.random.key(2))
    print(f"shifted-task loss before adaptation {nn.losses.mse_loss(net(xb), yb).item():.4f}")
    net.freeze()
    n = add_adapters(net, rank=4)
    n_train = sum(v.size for _, v in tree_flatten(net.trainable_parameters()))
    print(f"adapters inserted: {n}, trainable params: {n_train}")
    print(f"shifted-task loss after LoRA {fit(net, xb, yb, 300, 3e-3):.4f}")
    print(f"{time.time() - t0:.1f}s")
