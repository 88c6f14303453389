"""Functional deep MLP (params in a dict) with mx.checkpoint on every block. The block
function takes its parameters as explicit arguments, so checkpointing keeps their
gradients."""
import math
import time

import mlx.core as mx
from mlx.utils import tree_map
import mlx.optimizers as optim


def block(p, h):
    return h + mx.tanh(h @ p["w"] + p["b"])


ckpt_block = mx.checkpoint(block)


def net(params, x):
    h = x @ params["inp"]
    for p in params["blocks"]:
        h = ckpt_block(p, h)
    return h @ params["out"]


def loss_fn(params, x, y):
    return ((net(params, x) - y) ** 2).mean()


def main():
    mx.random.seed(2)
    dim, depth = 24, 5
    params = {
        "inp": mx.random.normal((3, dim)) / math.sqrt(3),
        "blocks": [{"w": mx.random.normal((dim, dim)) * 0.5 / math.sqrt(dim), "b": mx.zeros((dim,))}
                   for _ in range(depth)],
        "out": mx.random.normal((dim, 1)) / math.sqrt(dim),
    }
    start = tree_map(lambda a: mx.array(a), params)
    x = mx.random.uniform(-1, 1, (256, 3))
    y = (x[:, :1] * x[:, 1:2] + mx.cos(3 * x[:, 2:3]))
    opt = optim.Adam(learning_rate=3e-3)
    vg = mx.value_and_grad(loss_fn)
    t0 = time.time()
    for it in range(300):
        loss, grads = vg(params, x, y)
        params = opt.apply_gradients(grads, params)
        mx.eval(params, opt.state)
        if it % 100 == 0 or it == 299:
            print(f"it {it:3d}  loss {loss.item():.4f}")
    moved = sum(mx.abs(p["w"] - s["w"]).max().item() > 0 for p, s in zip(params["blocks"], start["blocks"]))
    print(f"blocks whose weights moved: {moved}/{depth}  ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
