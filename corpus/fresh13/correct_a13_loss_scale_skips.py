"""float16 compute with fp32 master weights and dynamic loss scaling.

The loss scale starts deliberately high (2**20); whenever the scaled float16
gradients overflow, the step is skipped (weights untouched) and the scale is
halved; after 200 clean steps it is doubled again. Skipped steps are expected.
"""
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map


def make_data(n, seed):
    key = mx.random.key(seed)
    k1, k2 = mx.random.split(key)
    x = mx.random.normal((n, 16), key=k1)
    w = mx.linspace(-1, 1, 16).reshape(16, 1)
    y = mx.sin(x @ w) + 0.05 * mx.random.normal((n, 1), key=k2)
    return x, y


def init_params(seed=0):
    k = mx.random.split(mx.random.key(seed), 3)
    return {
        "w1": mx.random.normal((16, 64), key=k[0]) * (1 / 4),
        "b1": mx.zeros((64,)),
        "w2": mx.random.normal((64, 64), key=k[1]) * (1 / 8),
        "b2": mx.zeros((64,)),
        "w3": mx.random.normal((64, 1), key=k[2]) * (1 / 8),
        "b3": mx.zeros((1,)),
    }


def forward16(p, x):
    q = tree_map(lambda a: a.astype(mx.float16), p)
    h = nn.gelu(x.astype(mx.float16) @ q["w1"] + q["b1"])
    h = nn.gelu(h @ q["w2"] + q["b2"])
    return h @ q["w3"] + q["b3"]


def scaled_loss(p, x, y, scale):
    pred = forward16(p, x)
    mse = ((pred - y.astype(mx.float16)) ** 2).mean()
    return mse * scale.astype(mx.float16), mse


grad_fn = mx.value_and_grad(scaled_loss)


def main():
    xtr, ytr = make_data(4096, 1)
    xva, yva = make_data(512, 2)
    master = init_params()
    opt = optim.Adam(learning_rate=2e-3)
    scale, clean, skipped = 2.0**20, 0, 0
    bs = 128
    for step in range(1, 1501):
        i = (step * bs) % xtr.shape[0]
        xb, yb = xtr[i : i + bs], ytr[i : i + bs]
        (_, mse), g16 = grad_fn(master, xb, yb, mx.array(scale))
        finite = all(mx.isfinite(v).all().item() for _, v in tree_flatten(g16))
        if not finite:
            skipped += 1
            scale /= 2
            clean = 0
            print(f"step {step:5d} overflow -> skip, loss_scale={scale:.0f}")
            continue
        grads = tree_map(lambda g: g.astype(mx.float32) / scale, g16)
        master = opt.apply_gradients(grads, master)
        mx.eval(master, opt.state)
        clean += 1
        if clean == 200:
            scale *= 2
            clean = 0
        if step % 100 == 0:
            val = ((forward16(master, xva).astype(mx.float32) - yva) ** 2).mean().item()
            print(f"step {step:5d} mse {mse.item():.5f} val_mse {val:.5f} loss_scale={scale:.0f} skipped={skipped}")
    print(f"finished: skipped {skipped} of 1500 steps, final val rmse {math.sqrt(val):.4f}")


if __name__ == "__main__":
    main()
