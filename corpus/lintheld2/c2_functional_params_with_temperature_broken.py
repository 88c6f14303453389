"""Functional-style MLP classifier with a softmax temperature (no nn.Module)."""
from functools import partial
import time

import numpy as np
import mlx.core as mx
from mlx.utils import tree_map


def init(rng, sizes, temperature):
    params = {"layers": []}
    for a, b in zip(sizes[:-1], sizes[1:]):
        params["layers"].append({
            "W": mx.array(rng.normal(0, 1 / np.sqrt(a), (a, b)).astype(np.float32)),
            "b": mx.zeros((b,)),
        })
    params["temperature"] = temperature
    return params


def forward(params, x):
    h = x
    for i, layer in enumerate(params["layers"]):
        h = h @ layer["W"] + layer["b"]
        if i < len(params["layers"]) - 1:
            h = mx.maximum(h, 0)
    return h / params["temperature"]


def nll(params, x, y, label_smoothing):
    logits = forward(params, x)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    k = logits.shape[-1]
    onehot = mx.eye(k)[y] * (1 - label_smoothing) + label_smoothing / k
    return -(onehot * logp).sum(-1).mean()


def minibatches(x, y, bs, rng):
    while True:
        idx = rng.permutation(len(x))
        for s in range(0, len(x) - bs + 1, bs):
            j = idx[s:s + bs]
            yield mx.array(x[j]), mx.array(y[j])


def main():
    rng = np.random.default_rng(0)
    n, d, k = 600, 10, 4
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (np.argmax(x[:, :k] + 0.5 * x[:, k:2 * k], axis=1)).astype(np.int32)

    params = init(rng, [d, 64, k], temperature=0.7)
    loss_grad = mx.value_and_grad(partial(nll, label_smoothing=0.05))
    lr = 0.1
    data = minibatches(x, y, 50, rng)
    t0 = time.time()
    for it in range(300):
        xb, yb = next(data)
        loss, grads = loss_grad(params, xb, yb)
        params["layers"] = tree_map(lambda p, g: p - lr * g, params["layers"], grads["layers"])
        mx.eval(params["layers"])
        if it % 75 == 0:
            print(f"it {it:3d}  loss {loss.item():.4f}")
    acc = (mx.argmax(forward(params, mx.array(x)), -1) == mx.array(y)).mean().item()
    print(f"train accuracy {acc:.3f}  ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
