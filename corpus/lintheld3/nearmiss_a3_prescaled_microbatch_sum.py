"""Binary classifier trained with micro-batching: every micro-batch loss is
already scaled by 1/n_micro, so the summed gradients are the full-batch mean."""
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map


def scaled_bce(model, x, y, n_micro):
    logits = model(x).squeeze(-1)
    return nn.losses.binary_cross_entropy(logits, y, with_logits=True, reduction="mean") / n_micro


def split(x, y, n):
    size = x.shape[0] // n
    return [(x[i * size:(i + 1) * size], y[i * size:(i + 1) * size]) for i in range(n)]


def main():
    mx.random.seed(12)
    n_micro = 8
    w = mx.random.normal((10,))
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))
    opt = optim.SGD(learning_rate=0.2, momentum=0.9)
    grad_fn = nn.value_and_grad(model, partial(scaled_bce, n_micro=n_micro))
    for upd in range(120):
        x = mx.random.normal((256, 10))
        y = ((x @ w) > 0).astype(mx.float32)
        summed, total = None, 0.0
        for xb, yb in split(x, y, n_micro):
            l, g = grad_fn(model, xb, yb)
            summed = g if summed is None else tree_map(lambda a, b: a + b, summed, g)
            mx.eval(summed, l)
            total += l.item()
        opt.update(model, summed)
        mx.eval(model.parameters(), opt.state)
        if upd % 20 == 0 or upd == 119:
            acc = mx.mean(((model(x).squeeze(-1) > 0).astype(mx.float32) == y)).item()
            print(f"update {upd:3d} loss {total:.4f} acc {acc:.3f}")


if __name__ == "__main__":
    main()
