"""Sequence classifier with learned attention pooling (functional mx.grad style)."""
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEQ, DIM = 10, 8


class AttnPoolClassifier(nn.Module):
    def __init__(self, dim, hidden, n_cls):
        super().__init__()
        self.proj = nn.Linear(dim, hidden)
        self.scorer = nn.Linear(hidden, 1)
        self.out = nn.Linear(hidden, n_cls)

    def _attention_weights(self, h):
        # weights over the time axis; treat them as a routing decision
        return mx.softmax(self.scorer(h), axis=1)

    def __call__(self, x):
        h = nn.gelu(self.proj(x))
        a = self._attention_weights(h)
        return self.out((a * h).sum(axis=1))


def synth(n, key):
    k1, k2, k3 = mx.random.split(key, 3)
    x = mx.random.normal((n, SEQ, DIM), key=k1)
    pos = mx.random.randint(0, SEQ, (n,), key=k2)
    label = mx.random.randint(0, 2, (n,), key=k3)
    # one "flagged" time step per sequence carries the label in feature 1
    onehot = (mx.arange(SEQ)[None, :] == pos[:, None]).astype(mx.float32)
    x = x * (1 - onehot[..., None]) + onehot[..., None] * mx.concatenate(
        [mx.full((n, 1, 1), 4.0), (2.0 * label - 1.0)[:, None, None] * 2.0, mx.zeros((n, 1, DIM - 2))], axis=2)
    return x, label


def loss_of(params, net, x, y):
    net.update(params)
    return nn.losses.cross_entropy(net(x), y, reduction="mean")


if __name__ == "__main__":
    mx.random.seed(5)
    x, y = synth(1024, mx.random.key(1))
    net = AttnPoolClassifier(DIM, 32, 2)
    scorer_init = mx.array(net.scorer.weight)
    opt = optim.Adam(learning_rate=3e-3)
    grad_of = mx.grad(loss_of)
    for step in range(300):
        idx = mx.random.randint(0, 1024, (64,))
        fwd = partial(loss_of, net=net, x=x[idx], y=y[idx])
        grads = grad_of(net.trainable_parameters(), net, x[idx], y[idx])
        opt.update(net, grads)
        mx.eval(net.parameters(), opt.state)
        if step % 100 == 0 or step == 299:
            print(f"step {step} loss {fwd(net.trainable_parameters()).item():.4f}")
    moved = mx.abs(net.scorer.weight - scorer_init).max().item()
    acc = mx.mean(mx.argmax(net(x), axis=1) == y).item()
    print(f"acc {acc:.3f}; scorer max |dW| = {moved:.2e}; "
          f"{sum(v.size for _, v in tree_flatten(net.trainable_parameters()))} trainable params")
