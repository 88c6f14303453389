"""Learn 8-bit binary addition (a + b -> 9-bit sum) with an MLP that outputs
one logit per sum bit (binary cross-entropy). Pure-function parameters
(a dict of arrays), hand-written heavy-ball momentum SGD inside a
mx.compile'd step, fresh random pairs every step. Writes CSV to stdout.
"""
import sys
import numpy as np
import mlx.core as mx
from mlx.utils import tree_map, tree_flatten

BITS = 8
rng = np.random.default_rng(11)


def to_bits(v, n):
    return ((v[:, None] >> np.arange(n)) & 1).astype(np.float32)


def batch(n):
    a = rng.integers(0, 2 ** BITS, n)
    b = rng.integers(0, 2 ** BITS, n)
    x = np.concatenate([to_bits(a, BITS), to_bits(b, BITS)], axis=1)
    y = to_bits(a + b, BITS + 1)
    return mx.array(x), mx.array(y)


def init(sizes, key):
    params = {}
    keys = mx.random.split(key, len(sizes) - 1)
    for i, (fi, fo) in enumerate(zip(sizes[:-1], sizes[1:])):
        params[f"W{i}"] = mx.random.normal((fi, fo), key=keys[i]) * (2.0 / fi) ** 0.5
        params[f"b{i}"] = mx.zeros((fo,))
    return params


NL = 3


def forward(p, x):
    h = x
    for i in range(NL):
        h = h @ p[f"W{i}"] + p[f"b{i}"]
        if i < NL - 1:
            h = mx.maximum(h, 0.0)
    return h


def bce(p, x, y):
    z = forward(p, x)
    # numerically stable BCE with logits
    return mx.mean(mx.maximum(z, 0) - z * y + mx.log1p(mx.exp(-mx.abs(z))))


grad_fn = mx.value_and_grad(bce)
LR, MOM = 0.05, 0.9


@mx.compile
def step(p, v, x, y):
    loss, g = grad_fn(p, x, y)
    v = tree_map(lambda vi, gi: MOM * vi + gi, v, g)
    p = tree_map(lambda pi, vi: pi - LR * vi, p, v)
    return p, v, loss


params = init([2 * BITS, 160, 160, BITS + 1], mx.random.key(0))
vel = tree_map(mx.zeros_like, params)

x0, y0 = batch(256)
_, g0 = grad_fn(params, x0, y0)
nz = sum(1 for _, g in tree_flatten(g0) if mx.abs(g).sum().item() > 0)
print(f"# grad leaves non-zero at step 0: {nz}/{len(tree_flatten(g0))}", file=sys.stderr)

xv, yv = batch(2000)
print("step,train_bce,val_bit_acc,val_exact_sum_acc")
for it in range(1, 3001):
    x, y = batch(256)
    params, vel, loss = step(params, vel, x, y)
    mx.eval(params, vel, loss)
    if it % 250 == 0:
        pv = (forward(params, xv) > 0).astype(mx.float32)
        bit_acc = mx.mean(pv == yv).item()
        exact = mx.mean(mx.all(pv == yv, axis=1)).item()
        print(f"{it},{loss.item():.5f},{bit_acc:.4f},{exact:.4f}")
