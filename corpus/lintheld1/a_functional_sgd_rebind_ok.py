# Two-spirals classifier written "jax style": a parameter dict and a pure loss function.
import math
import time

import mlx.core as core
from mlx.utils import tree_map


def init_params(key, sizes):
    params = {}
    keys = core.random.split(key, len(sizes) - 1)
    for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        scale = math.sqrt(2.0 / d_in)
        params[f"W{i}"] = scale * core.random.normal((d_in, d_out), key=keys[i])
        params[f"b{i}"] = core.zeros((d_out,))
    return params


def forward(params, x):
    n_layers = len(params) // 2
    for i in range(n_layers):
        x = x @ params[f"W{i}"] + params[f"b{i}"]
        if i < n_layers - 1:
            x = core.tanh(x)
    return x


def loss_fn(params, x, y):
    logits = forward(params, x)
    return core.mean(core.logsumexp(logits, axis=-1) - core.take_along_axis(logits, y[:, None], axis=-1).squeeze(-1))


def spirals(n, key):
    t = core.sqrt(core.random.uniform(shape=(n,), key=key)) * 3 * math.pi
    cls = core.arange(n) % 2
    sign = 2 * cls - 1
    x = core.stack([sign * t * core.cos(t), sign * t * core.sin(t)], axis=1) / (3 * math.pi)
    return x, cls.astype(core.int32)


def batches(x, y, bs, key):
    perm = core.random.permutation(x.shape[0], key=key)
    for i in range(0, x.shape[0], bs):
        sl = perm[i:i + bs]
        yield x[sl], y[sl]


if __name__ == "__main__":
    lr, epochs, bs = 0.3, 120, 32
    X, Y = spirals(800, core.random.key(0))
    params = init_params(core.random.key(1), [2, 32, 32, 2])
    core.eval(X, Y, params)
    grad_fn = core.grad(loss_fn)

    key = core.random.key(2)
    t0 = time.time()
    for epoch in range(epochs):
        key, sub = core.random.split(key)
        for xb, yb in batches(X, Y, bs, sub):
            grads = grad_fn(params, xb, yb)
            params = tree_map(lambda p, g: p - lr * g, params, grads)
            core.eval(params)
        if epoch % 20 == 0:
            print(f"epoch {epoch:3d} done ({time.time() - t0:.1f}s)", flush=True)

    acc = core.mean(core.argmax(forward(params, X), axis=-1) == Y).item()
    print(f"final loss {loss_fn(params, X, Y).item():.4f}  train acc {acc:.3f}")
