"""Learn a 2-D embedding (parametric MDS) of 8-D points with a stress loss.

params are a plain dict, stepped by hand with SGD + momentum.
"""
import argparse
import math
import time

import mlx.core as mx
from mlx.utils import tree_map


def init_params(key, d_in, d_hid, d_out):
    k1, k2 = mx.random.split(key)
    return {
        "w1": mx.random.normal((d_in, d_hid), key=k1) / math.sqrt(d_in),
        "b1": mx.zeros((d_hid,)),
        "w2": mx.random.normal((d_hid, d_out), key=k2) / math.sqrt(d_hid),
        "b2": mx.zeros((d_out,)),
    }


def embed(p, x):
    return mx.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]


def cdist(a, b, eps=1e-8):
    sq = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    return mx.sqrt(mx.maximum(sq, eps))


def stress(p, x):
    z = embed(p, x)
    target = cdist(x, x)
    got = cdist(z, z)
    return ((got - target) ** 2).mean() / (target ** 2).mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--n", type=int, default=64)
    args = ap.parse_args()

    key = mx.random.key(7)
    kx, kp = mx.random.split(key)
    # points on a noisy 2-D sheet embedded in 8-D
    base = mx.random.normal((args.n, 2), key=kx)
    x = mx.concatenate([base, 0.3 * mx.sin(base), 0.1 * base ** 2, base[:, :1] * base[:, 1:]], axis=1)[:, :8]
    params = init_params(kp, x.shape[1], 32, 2)
    vel = tree_map(mx.zeros_like, params)
    vg = mx.value_and_grad(stress)
    t0 = time.time()
    for step in range(args.steps):
        loss, g = vg(params, x)
        vel = tree_map(lambda v, gi: 0.9 * v + gi, vel, g)
        params = tree_map(lambda w, v: w - args.lr * v, params, vel)
        mx.eval(params, vel)
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step:3d}  stress {loss.item():.4f}  |w1| {mx.abs(params['w1']).mean().item():.4f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
