"""Adapt a small 'pretrained' MLP regressor to a shifted task with LoRA adapters.

The base network is trained first on task A, then LoRA adapters are attached to
its two hidden projections and only the adapters should be trained on task B.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank: int = 4, alpha: float = 8.0):
        super().__init__()
        out_dims, in_dims = base.weight.shape
        self.base = base
        self.scale = alpha / rank
        bound = 1.0 / math.sqrt(in_dims)
        self.lora_a = mx.random.uniform(-bound, bound, (in_dims, rank))
        self.lora_b = mx.zeros((rank, out_dims))

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class Net(nn.Module):
    def __init__(self, d_in=12, d_h=48):
        super().__init__()
        self.fc1 = nn.Linear(d_in, d_h)
        self.fc2 = nn.Linear(d_h, d_h)
        self.head = nn.Linear(d_h, 1)

    def __call__(self, x):
        return self.head(nn.gelu(self.fc2(nn.gelu(self.fc1(x)))))


def make_task(key, n=1024, d=12, shift=0.0):
    k1, k2 = mx.random.split(key)
    x = mx.random.normal((n, d), key=k1)
    w = mx.random.normal((d, 1), key=k2)
    y = mx.tanh(x @ w) + shift * mx.sin(2.0 * x[:, :1]) * x[:, 1:2]
    return x, y


def count(params):
    return sum(v.size for _, v in tree_flatten(params))


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def fit(model, x, y, opt, steps, tag, bs=64):
    step_fn = nn.value_and_grad(model, mse)
    n = x.shape[0]
    for it in range(1, steps + 1):
        idx = mx.random.randint(0, n, (bs,))
        loss, grads = step_fn(model, x[idx], y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 50 == 0:
            full = mse(model, x, y).item()
            print(f"[{tag}] it {it:4d}/{steps}  batch_mse={loss.item():.4f}  full_mse={full:.4f}")


def main():
    mx.random.seed(3)
    key = mx.random.key(11)
    xa, ya = make_task(key, shift=0.0)
    xb, yb = make_task(key, shift=1.5)

    model = Net()
    mx.eval(model.parameters())
    t0 = time.time()
    print("== stage 1: base training on task A ==")
    fit(model, xa, ya, optim.Adam(learning_rate=3e-3), 300, "base")

    print("== stage 2: LoRA adaptation on task B ==")
    model.fc1 = LoRALinear(model.fc1)
    model.fc2 = LoRALinear(model.fc2)
    model.freeze()
    model.head.unfreeze()  # the output head is re-trained together with the adapters
    print(f"trainable params: {count(model.trainable_parameters())} / {count(model.parameters())}")
    start = mse(model, xb, yb).item()
    fit(model, xb, yb, optim.AdamW(learning_rate=5e-3, weight_decay=0.0), 400, "lora")
    end = mse(model, xb, yb).item()
    print(f"task B mse: start {start:.4f} -> end {end:.4f}  ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
