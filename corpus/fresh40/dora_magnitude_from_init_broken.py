# DoRA fine-tune of a small pretrained regression MLP on a shifted target.
# Base is trained first (stand-in for a pretrained checkpoint), then every
# Linear is wrapped in DoRALinear and only the DoRA parameters are trained.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten


class DoRALinear(nn.Module):
    @staticmethod
    def from_linear(linear: nn.Linear, r: int = 4, dropout: float = 0.0, scale: float = 8.0):
        output_dims, input_dims = linear.weight.shape
        dora_lin = DoRALinear(input_dims=input_dims, output_dims=output_dims, r=r,
                              dropout=dropout, scale=scale, bias="bias" in linear)
        dora_lin.linear = linear
        return dora_lin

    def __init__(self, input_dims, output_dims, r=4, dropout=0.0, scale=8.0, bias=False):
        super().__init__()
        self.linear = nn.Linear(input_dims, output_dims, bias=bias)
        self.dropout = nn.Dropout(p=dropout)
        self.scale = scale
        s = 1 / math.sqrt(input_dims)
        self.lora_a = mx.random.uniform(low=-s, high=s, shape=(input_dims, r))
        self.lora_b = mx.zeros(shape=(r, output_dims))
        self.m = mx.linalg.norm(self.linear.weight, axis=1)

    def __call__(self, x):
        y = x @ self.linear.weight.T
        z = (self.dropout(x) @ self.lora_a) @ self.lora_b
        out = y + (self.scale * z).astype(x.dtype)
        adapted = self.linear.weight + (self.scale * self.lora_b.T) @ self.lora_a.T
        denom = mx.stop_gradient(mx.linalg.norm(adapted, axis=1))
        out = (self.m / denom) * out
        if "bias" in self.linear:
            out = out + self.linear.bias
        return out


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(8, 96), nn.Linear(96, 96), nn.Linear(96, 1)]

    def __call__(self, x):
        for l in self.layers[:-1]:
            x = mx.tanh(l(x))
        return self.layers[-1](x)[:, 0]


def target(x, shift):
    return np.sin(2.0 * x[:, 0]) * np.cos(x[:, 1]) + 0.5 * x[:, 2] * x[:, 3] + shift * np.tanh(x[:, 4] - x[:, 5])


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


def train(model, x, y, steps, lr, report=None):
    opt = optim.Adam(learning_rate=lr)
    vg = nn.value_and_grad(model, mse)
    rng = np.random.default_rng(0)
    for it in range(1, steps + 1):
        idx = mx.array(rng.integers(0, x.shape[0], 128))
        loss, g = vg(model, x[idx], y[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        if report and it % report[0] == 0:
            report[1](it)


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(1)
    xa = rng.normal(size=(8000, 8)).astype(np.float32)
    xb = rng.normal(size=(3000, 8)).astype(np.float32)
    xv = rng.normal(size=(2000, 8)).astype(np.float32)
    t0 = time.time()

    base = Regressor()
    train(base, mx.array(xa), mx.array(target(xa, 0.0).astype(np.float32)), steps=3000, lr=2e-3)
    XB, YB = mx.array(xb), mx.array(target(xb, 0.6).astype(np.float32))
    XV, YV = mx.array(xv), mx.array(target(xv, 0.6).astype(np.float32))
    print(f"pretrained base on new task: val_mse {mse(base, XV, YV).item():.4f}")

    base.freeze()
    for i, l in enumerate(base.layers):
        base.layers[i] = DoRALinear.from_linear(l)
    n_tr = sum(v.size for _, v in tree_flatten(base.trainable_parameters()))
    print(f"wrapped with DoRA ({n_tr} trainable): val_mse {mse(base, XV, YV).item():.4f}")

    def report(it):
        print(f"  dora step {it:4d}  train_mse {mse(base, XB, YB).item():.4f}  val_mse {mse(base, XV, YV).item():.4f}")

    train(base, XB, YB, steps=600, lr=1e-3, report=(100, report))
    print(f"finished in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
