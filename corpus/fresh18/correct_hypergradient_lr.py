"""Logistic regression trained with hypergradient descent (the learning rate is
itself learned online: lr <- lr + beta * <g_t, g_{t-1}>). The printed lr rises
quickly from a deliberately tiny start (1e-4) and then levels off near 0.047."""
import math
import numpy as np
import mlx.core as mx
from mlx.utils import tree_map, tree_flatten

rng = np.random.default_rng(3)
D = 20
w_star = rng.normal(size=(D,)).astype(np.float32)
X = rng.normal(size=(4000, D)).astype(np.float32)
y = (X @ w_star + 0.5 * rng.normal(size=4000) > 0).astype(np.float32)
Xv, yv = mx.array(X[3000:]), mx.array(y[3000:])
Xt, yt = X[:3000], y[:3000]


def loss_fn(params, x, t):
    z = x @ params["w"] + params["b"]
    return mx.mean(mx.logaddexp(0.0, z) - t * z)


def dot(a, b):
    return sum(mx.sum(u * v) for (_, u), (_, v) in zip(tree_flatten(a), tree_flatten(b)))


params = {"w": mx.zeros((D,)), "b": mx.zeros(())}
grad_fn = mx.value_and_grad(loss_fn)
lr, beta = 1e-4, 2e-3
prev_g = None
print(f"{'step':>5} | {'lr':>9} | {'train_nll':>9} | {'val_nll':>8} | {'val_acc':>7}")
for step in range(1, 1501):
    idx = rng.integers(0, len(Xt), size=64)
    loss, g = grad_fn(params, mx.array(Xt[idx]), mx.array(yt[idx]))
    if prev_g is not None:
        h = dot(g, prev_g).item()
        lr = max(lr + beta * h, 1e-5)
    params = tree_map(lambda p, gg: p - lr * gg, params, g)
    prev_g = g
    mx.eval(params, loss)
    if step % 100 == 0:
        vl = loss_fn(params, Xv, yv).item()
        acc = mx.mean(((Xv @ params["w"] + params["b"]) > 0) == (yv > 0.5)).item()
        print(f"{step:5d} | {lr:9.5f} | {loss.item():9.4f} | {vl:8.4f} | {acc:7.3f}")
