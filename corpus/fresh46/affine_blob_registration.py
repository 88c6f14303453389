"""Coarse-to-fine 2-D affine image registration by differentiable resampling.

A 96x96 "fixed" image is a sum of anisotropic Gaussian blobs.  The "moving"
image is the same scene under a hidden affine transform (rotation, anisotropic
scale, shear, translation) plus pixel noise.  We learn the 6 affine parameters
(2x2 matrix as an offset from identity + translation) that warp the moving
image back onto the fixed one, using a hand-written bilinear sampler (gather
via mx.take on the flattened image) and a sum-of-squared-differences loss.

Loop shape: three pyramid levels (Gaussian blur sigma 4 -> 2 -> 0.7) run one
after the other on the same parameters; optim.SGD with momentum 0.9 and a
per-level learning rate; the optimizer is re-created at each level.  Progress
lines are printed as `reg[level=...] it=... ssd=... |A-A*|=... |t-t*|=...`.
"""

import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

H = W = 96
rng = np.random.default_rng(11)


def blob_scene(n=9):
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    img = np.zeros((H, W), np.float32)
    for _ in range(n):
        cy, cx = rng.uniform(12, H - 12), rng.uniform(12, W - 12)
        sy, sx = rng.uniform(2.0, 5.0), rng.uniform(2.0, 5.0)
        amp = rng.uniform(0.5, 1.0)
        img += amp * np.exp(-0.5 * (((yy - cy) / sy) ** 2 + ((xx - cx) / sx) ** 2))
    return img


def gaussian_blur(img, sigma):
    r = int(3 * sigma) + 1
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    out = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), 0, img)
    out = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), 1, out)
    return out.astype(np.float32)


# pixel grid in normalised coordinates [-1, 1]
ys, xs = np.meshgrid(np.linspace(-1, 1, H), np.linspace(-1, 1, W), indexing="ij")
GRID = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)  # (HW, 2) as (x, y)


def warp_np(img, A, t):
    """Reference warp with numpy (used only to create the moving image)."""
    src = GRID @ A.T + t
    return bilinear(mx.array(img), mx.array(src.astype(np.float32)))


def bilinear(img, pts):
    """Sample img (H, W) at normalised points pts (N, 2) with zero padding."""
    px = (pts[:, 0] + 1) * 0.5 * (W - 1)
    py = (pts[:, 1] + 1) * 0.5 * (H - 1)
    x0 = mx.stop_gradient(mx.floor(px))
    y0 = mx.stop_gradient(mx.floor(py))
    wx = px - x0
    wy = py - y0
    flat = img.reshape(-1)

    def tap(yi, xi):
        valid = (xi >= 0) & (xi <= W - 1) & (yi >= 0) & (yi <= H - 1)
        idx = (mx.clip(yi, 0, H - 1) * W + mx.clip(xi, 0, W - 1)).astype(mx.int32)
        return mx.where(valid, mx.take(flat, idx), 0.0)

    v00 = tap(y0, x0)
    v01 = tap(y0, x0 + 1)
    v10 = tap(y0 + 1, x0)
    v11 = tap(y0 + 1, x0 + 1)
    top = v00 * (1 - wx) + v01 * wx
    bot = v10 * (1 - wx) + v11 * wx
    return (top * (1 - wy) + bot * wy).reshape(H, W)


class Affine(nn.Module):
    def __init__(self):
        super().__init__()
        self.dA = mx.zeros((2, 2))   # A = I + dA
        self.t = mx.zeros((2,))

    def matrix(self):
        return mx.eye(2) + self.dA

    def __call__(self, moving):
        src = GRID_MX @ self.matrix().T + self.t
        return bilinear(moving, src)


GRID_MX = mx.array(GRID)


def main():
    fixed_full = blob_scene()
    th = math.radians(9.0)
    R = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    S = np.array([[1.08, 0.04], [0.0, 0.93]])
    A_true = (R @ S).astype(np.float32)          # maps fixed -> moving coordinates
    t_true = np.array([0.07, -0.05], np.float32)
    # moving(x) = fixed(inverse map); build it by warping fixed with the inverse
    A_inv = np.linalg.inv(A_true).astype(np.float32)
    t_inv = (-A_inv @ t_true).astype(np.float32)
    moving_full = np.array(warp_np(fixed_full, A_inv, t_inv))
    moving_full += rng.normal(0, 0.02, moving_full.shape).astype(np.float32)

    model = Affine()
    levels = [(4.0, 0.30, 1000), (2.0, 0.15, 1000), (0.7, 0.05, 1000)]
    t0 = time.time()
    checked = False
    for sigma, lr, iters in levels:
        fixed = mx.array(gaussian_blur(fixed_full, sigma))
        moving = mx.array(gaussian_blur(moving_full, sigma))

        def loss_fn(m):
            return mx.mean((m(moving) - fixed) ** 2)

        step = nn.value_and_grad(model, loss_fn)
        opt = optim.SGD(learning_rate=lr, momentum=0.9)
        if not checked:
            _, g = step(model)
            leaves = tree_flatten(g)
            zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
            print(f"grad check: {len(leaves)} leaves, all-zero: {zero if zero else 'none'}")
            checked = True
        for it in range(1, iters + 1):
            loss, grads = step(model)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            if it == 1 or it % 200 == 0:
                A = np.array(model.matrix())
                t = np.array(model.t)
                print(f"reg[level=s{sigma:.1f}] it={it:03d} ssd={loss.item():.3e} "
                      f"|A-A*|={np.abs(A - A_true).max():.4f} |t-t*|={np.abs(t - t_true).max():.4f}")

    base = float(np.mean((moving_full - fixed_full) ** 2))
    final = float(mx.mean((model(mx.array(moving_full)) - mx.array(fixed_full)) ** 2).item())
    print(f"finished in {time.time() - t0:.1f}s: full-res ssd {base:.3e} (unregistered) -> {final:.3e}; "
          f"(pixel-noise variance {0.02**2:.1e}; bilinear resampling averages part of it away)")
    print("A fitted:", np.round(np.array(model.matrix()), 4).tolist(), " A true:", np.round(A_true, 4).tolist())
    print("t fitted:", np.round(np.array(model.t), 4).tolist(), " t true:", np.round(t_true, 4).tolist())


if __name__ == "__main__":
    main()
