import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten


class DoRALinear(nn.Module):
    @staticmethod
    def from_linear(
        linear: nn.Linear,
        r: int = 8,
        alpha: float = 16,
        dropout: float = 0.0,
        scale: float = 10.0,
    ):
        output_dims, input_dims = linear.weight.shape
        return DoRALinear(
            linear=linear,
            input_dims=input_dims,
            output_dims=output_dims,
            r=r,
            alpha=alpha,
            dropout=dropout,
            scale=scale,
        )

    def __init__(
            self,
            linear: nn.Module,
            input_dims:int,
            output_dims:int,
            r: int =8,
            alpha:float=16,
            dropout:float =0.0,
            scale:float =10.0,
    ):
        super().__init__()

        # Regular linear layer weights
        self.linear = linear
        self.dropout = nn.Dropout(p=dropout)

        # Scale for low-rank update
        self.scale = scale * (alpha / r)

        # Low rank lora weights
        scale = 1 / math.sqrt(input_dims)
        self.lora_a = mx.random.uniform(
            low=-scale,
            high=scale,
            shape=(input_dims, r),
        )
        self.lora_b = mx.zeros(shape=(r, output_dims))
        self.m=mx.linalg.norm(self.linear.weight,axis=1)
    def __call__(self,x) :
        dtype=self.linear.weight.dtype
        lb = (self.scale * self.lora_b.T).astype(dtype)
        la = self.lora_a.T.astype(dtype)
        adapted=self.linear.weight+lb.astype(dtype) @ la
        norm= mx.linalg.norm(adapted,axis=1)
        y = x@self.linear.weight.T
        z = (self.dropout(x) @ self.lora_a) @ self.lora_b
        res=y+(self.scale*z).astype(x.dtype)
        if "bias" in self.linear:
            res += self.linear.bias
        return (self.m/norm)*res


class VatGrader(nn.Module):
    def __init__(self, n_in=12, hidden=48, n_grades=5):
        super().__init__()
        self.inp = nn.Linear(n_in, hidden)
        self.mid = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, n_grades)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = nn.gelu(self.mid(h))
        return self.out(h)


def make_plant(rng, n, proj, shift):
    x = rng.normal(size=(n, 12)).astype(np.float32)
    score = np.tanh(x @ proj) + shift * np.sin(x[:, :3].sum(axis=1, keepdims=True))
    y = score.argmax(axis=1).astype(np.int32)
    return mx.array(x), mx.array(y)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return (mx.argmax(model(x), axis=1) == y).astype(mx.float32).mean().item()


def batches(x, y, bs, rng):
    idx = rng.permutation(x.shape[0])
    for i in range(0, len(idx) - bs + 1, bs):
        j = mx.array(idx[i:i + bs])
        yield x[j], y[j]


def fit(model, opt, x, y, epochs, bs, rng, tag):
    step_fn = nn.value_and_grad(model, loss_fn)
    step = 0
    for ep in range(epochs):
        tot, cnt = 0.0, 0
        for xb, yb in batches(x, y, bs, rng):
            loss, grads = step_fn(model, xb, yb)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            cnt += 1
            step += 1
        print(f"[{tag}] epoch {ep + 1:2d} step {step:4d} train_loss {tot / cnt:.4f}")


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    proj = rng.normal(size=(12, 5)).astype(np.float32)

    xa, ya = make_plant(rng, 4000, proj, 0.0)
    xa_val, ya_val = make_plant(rng, 800, proj, 0.0)

    proj_b = proj + 0.6 * rng.normal(size=proj.shape).astype(np.float32)
    xb, yb = make_plant(rng, 1200, proj_b, 0.8)
    xb_val, yb_val = make_plant(rng, 600, proj_b, 0.8)

    model = VatGrader()
    mx.eval(model.parameters())
    t0 = time.time()
    fit(model, optim.Adam(learning_rate=2e-3), xa, ya, 8, 64, rng, "plant-A base")
    print(f"base: plant-A val acc {accuracy(model, xa_val, ya_val):.3f} | "
          f"plant-B val acc {accuracy(model, xb_val, yb_val):.3f}")

    model.freeze()
    model.inp = DoRALinear.from_linear(model.inp, r=4)
    model.mid = DoRALinear.from_linear(model.mid, r=4)
    model.out = DoRALinear.from_linear(model.out, r=4)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"adapter parameters: {n_train}")

    fit(model, optim.Adam(learning_rate=1e-3), xb, yb, 10, 32, rng, "plant-B dora")
    print(f"tuned: plant-B val acc {accuracy(model, xb_val, yb_val):.3f} | "
          f"plant-A val acc {accuracy(model, xa_val, ya_val):.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
