"""House-price style regression with gradient accumulation (effective batch = micro * accum)."""
from dataclasses import dataclass
import math

import mlx.core as mx
import mlx.nn as mnn
import mlx.optimizers as optim
from mlx.utils import tree_map


@dataclass
class Config:
    n_features: int = 10
    hidden: int = 32
    micro_batch: int = 16
    accum_steps: int = 8
    lr: float = 0.05
    momentum: float = 0.9
    updates: int = 150
    seed: int = 3


class Regressor(mnn.Module):
    def __init__(self, d_in, hidden):
        super().__init__()
        self.l1 = mnn.Linear(d_in, hidden)
        self.l2 = mnn.Linear(hidden, 1)

    def __call__(self, x):
        return self.l2(mnn.relu(self.l1(x))).squeeze(-1)


def synthetic_data(cfg, n=4096):
    key = mx.random.key(cfg.seed)
    kx, kw, kn = mx.random.split(key, 3)
    X = mx.random.normal((n, cfg.n_features), key=kx)
    w = mx.random.normal((cfg.n_features,), key=kw)
    y = X @ w + 0.5 * mx.sin(X[:, 0] * 2) + 0.1 * mx.random.normal((n,), key=kn)
    return X, y


def micro_batches(X, y, cfg, rng_key):
    """Yields accum_steps micro-batches for one optimizer update."""
    idx = mx.random.permutation(X.shape[0], key=rng_key)
    for i in range(cfg.accum_steps):
        sl = idx[i * cfg.micro_batch:(i + 1) * cfg.micro_batch]
        yield X[sl], y[sl]


def mse(model, xb, yb):
    return mnn.losses.mse_loss(model(xb), yb)


def train(cfg: Config):
    mx.random.seed(cfg.seed)
    X, y = synthetic_data(cfg)
    model = Regressor(cfg.n_features, cfg.hidden)
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=cfg.lr, momentum=cfg.momentum)
    grad_fn = mnn.value_and_grad(model, mse)

    key = mx.random.key(cfg.seed + 1)
    for update in range(cfg.updates):
        key, sub = mx.random.split(key)
        acc = None
        for xb, yb in micro_batches(X, y, cfg, sub):
            _, g = grad_fn(model, xb, yb)
            acc = g if acc is None else tree_map(lambda a, b: a + b, acc, g)
        opt.update(model, acc)
        mx.eval(model.parameters(), opt.state)
        if update % 25 == 0 or update == cfg.updates - 1:
            full = mse(model, X, y).item()
            print(f"update {update:4d}  full-data mse {full:.4f}")
            if not math.isfinite(full):
                print("loss is not finite, stopping early")
                break
    return model


if __name__ == "__main__":
    train(Config())
