"""Small GRU sequence classifier (does the running sum of a +/-1 sequence end positive?)
with hand-written global-norm gradient clipping, trained with Lion."""
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

MAX_GRAD_NORM = 1.0


class SeqClassifier(nn.Module):
    def __init__(self, hidden=24):
        super().__init__()
        self.rnn = nn.GRU(1, hidden)
        self.head = nn.Linear(hidden, 2)

    def __call__(self, x):
        h = self.rnn(x)
        return self.head(h[:, -1, :])


def make_batch(n=64, length=12):
    steps = mx.where(mx.random.uniform(shape=(n, length, 1)) < 0.5, -1.0, 1.0)
    y = (steps.sum(axis=(1, 2)) > 0).astype(mx.int32)
    return steps, y


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def clip_grad_norm(grads, max_norm):
    """Clip gradients by global norm."""
    grad_norm = mx.sqrt(sum((g * g).sum() for _, g in tree_flatten(grads)))
    scale = mx.minimum(max_norm / (grad_norm + 1e-6), 1.0)
    return tree_map(lambda g: g * scale, grads), grad_norm


def main():
    mx.random.seed(7)
    model = SeqClassifier()
    opt = optim.Lion(learning_rate=1e-3)
    vg = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    for it in range(1, 201):
        x, y = make_batch()
        loss, grads = vg(model, x, y)
        grads, gnorm = clip_grad_norm(grads, MAX_GRAD_NORM)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if it % 20 == 0:
            xv, yv = make_batch(256)
            acc = (mx.argmax(model(xv), axis=1) == yv).mean().item()
            print(json.dumps({"iter": it, "loss": round(loss.item(), 4),
                              "grad_norm": round(gnorm.item(), 3), "acc": round(acc, 3),
                              "t": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main()
