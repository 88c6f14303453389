"""Fit a closed outline made of four cubic Bezier segments to noisy points sampled
from a heart curve, by symmetric Chamfer distance. Control points are one raw array
in a plain dict (anchor + two handles per segment), updated by
optim.Adamax(...).apply_gradients under an exponential learning-rate decay.
Progress goes out as XML comments, the result as a tiny SVG document."""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.optimizers as optim
from mlx.utils import tree_flatten


def heart(n, rng, noise=0.01):
    t = rng.uniform(0, 2 * math.pi, n)
    x = 16 * np.sin(t) ** 3
    y = 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
    pts = np.stack([x, y], 1) / 17.0
    return (pts + rng.normal(0, noise, pts.shape)).astype(np.float32)


def init_controls():
    # a circle of radius 0.6 split into 4 cubic arcs (k = 0.5523 rule)
    k, r = 0.5523, 0.6
    anchors = [(r, 0), (0, r), (-r, 0), (0, -r)]
    tangents = [(0, 1), (-1, 0), (0, -1), (1, 0)]
    segs = []
    for i in range(4):
        p0 = np.array(anchors[i]); p3 = np.array(anchors[(i + 1) % 4])
        t0 = np.array(tangents[i]); t3 = np.array(tangents[(i + 1) % 4])
        segs.append([p0, p0 + k * r * t0, p3 - k * r * t3, p3])
    return np.array(segs, dtype=np.float32)[:, :3]  # (4 segments, anchor+2 handles, 2)


T = np.linspace(0, 1, 24, endpoint=False, dtype=np.float32)
BASIS = mx.array(np.stack([(1 - T) ** 3, 3 * (1 - T) ** 2 * T, 3 * (1 - T) * T ** 2, T ** 3], 1))  # (24,4)


def curve(params):
    c = params["ctrl"]
    # closed outline: each segment's end point is the next segment's start point
    start = mx.concatenate([c, mx.roll(c[:, :1], -1, axis=0)], axis=1)  # (4,4,2)
    return mx.einsum("tk,skd->std", BASIS, start).reshape(-1, 2)  # (96,2)


def chamfer(params, target):
    pts = curve(params)
    d2 = mx.sum((target[:, None, :] - pts[None, :, :]) ** 2, axis=-1)  # (N,96)
    return mx.mean(mx.min(d2, axis=1)) + mx.mean(mx.min(d2, axis=0))


def main():
    rng = np.random.default_rng(11)
    target = mx.array(heart(600, rng))
    dense = mx.array(heart(4000, np.random.default_rng(12), noise=0.0))
    params = {"ctrl": mx.array(init_controls())}
    opt = optim.Adamax(learning_rate=optim.exponential_decay(0.02, 0.999))
    vg = mx.value_and_grad(chamfer)

    loss0, g0 = vg(params, target)
    gl = tree_flatten(g0)
    zero_rows = int(mx.sum(mx.all(g0["ctrl"].reshape(-1, 2) == 0, axis=1)).item())
    print('<?xml version="1.0"?>')
    print(f"<!-- leaves={len(gl)} control rows with zero gradient at step 0: {zero_rows}/12 -->")

    t0 = time.perf_counter()
    iters = 2500
    for it in range(1, iters + 1):
        loss, grads = vg(params, target)
        params = opt.apply_gradients(grads, params)
        mx.eval(params, opt.state, loss)
        if it == 1 or it % 250 == 0:
            clean = chamfer(params, dense).item()
            print(f"<!-- iter={it:5d} chamfer_noisy={loss.item():.5f} "
                  f"chamfer_clean={clean:.5f} lr={opt.learning_rate.item():.4f} "
                  f"t={time.perf_counter() - t0:.1f}s -->")
    c = np.array(params["ctrl"])
    d = f"M {c[0,0,0]:.3f} {-c[0,0,1]:.3f} " + " ".join(
        f"C {c[s,1,0]:.3f} {-c[s,1,1]:.3f} {c[s,2,0]:.3f} {-c[s,2,1]:.3f} "
        f"{c[(s+1)%4,0,0]:.3f} {-c[(s+1)%4,0,1]:.3f}" for s in range(4)) + " Z"
    print('<svg xmlns="http://www.w3.org/2000/svg" viewBox="-1.2 -1.2 2.4 2.4">')
    print(f'  <path d="{d}" fill="none" stroke="crimson" stroke-width="0.02"/>')
    print(f"  <!-- start chamfer {loss0.item():.5f}, final {loss.item():.5f} (point noise sd 0.01) -->")
    print("</svg>")


if __name__ == "__main__":
    main()
