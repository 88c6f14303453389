"""Unrolled super-resolution deconvolution for widefield z-stacks.

The camera bins 2x2 in XY (no binning along Z), so the forward model is
A = D o C: blur with the 3D PSF on the fine grid, then sum-bin pixels.
A small unrolled network runs a few gradient steps x <- x - t_k A^T(Ax - y)
with a learned step size per iteration and a shared 3D conv refiner.
"""

import math
import time
from typing import Tuple, Union

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 7
Z, Y, X = 6, 24, 24
FACTORS = (1, 2, 2)
N_ITERS = 5
BATCH = 3
STEPS = 100
LR = 3e-3


def _normalize_factors(factors: Union[int, Tuple[int, ...]], ndim: int) -> Tuple[int, ...]:
    if isinstance(factors, int):
        return (factors,) * ndim
    if len(factors) != ndim:
        raise ValueError(f"factors has length {len(factors)}, expected {ndim}")
    return tuple(factors)


def downsample(x: mx.array, factors) -> mx.array:
    """Sum-binning over blocks of `factors`."""
    ndim = x.ndim
    factors = _normalize_factors(factors, ndim)
    if all(f == 1 for f in factors):
        return x
    new_shape = []
    sum_axes = []
    for s, f in zip(x.shape, factors):
        if f > 1:
            new_shape.extend([s // f, f])
            sum_axes.append(len(new_shape) - 1)
        else:
            new_shape.append(s)
    return mx.sum(x.reshape(new_shape), axis=sum_axes)


def upsample(y: mx.array, factors) -> mx.array:
    """Replication upsampling (adjoint of sum-binning)."""
    ndim = y.ndim
    factors = _normalize_factors(factors, ndim)
    if all(f == 1 for f in factors):
        return y

    result = y
    added_dims = 0
    for axis in range(ndim):
        f = factors[axis]
        if f > 1:
            current_axis = axis + added_dims
            result = mx.expand_dims(result, axis=current_axis + 1)
            tile_pattern = [1] * result.ndim
            tile_pattern[current_axis + 1] = f
            result = mx.tile(result, tile_pattern)
            added_dims += 1

    output_shape = tuple(s * f for s, f in zip(y.shape, factors))
    return result.reshape(output_shape)


class BinnedConvolver:
    """A = D o C (convolve on the fine grid, then sum-bin); A^T = C^T o D^T."""

    def __init__(self, kernel, factors):
        kernel_arr = mx.array(kernel) if isinstance(kernel, np.ndarray) else kernel
        self.highres_shape = kernel_arr.shape
        self.factors = _normalize_factors(factors, kernel_arr.ndim)
        self.lowres_shape = tuple(s // f for s, f in zip(self.highres_shape, self.factors))
        kernel_arr = kernel_arr / mx.sum(kernel_arr)
        self.otf = mx.fft.rfftn(kernel_arr)
        self.axes = tuple(range(-len(self.highres_shape), 0))
        self.operator_norm_sq = float(np.prod(self.factors))

    def forward(self, x):
        x_ft = mx.fft.rfftn(x)
        convolved = mx.fft.irfftn(x_ft * self.otf, axes=self.axes, s=self.highres_shape)
        return downsample(convolved, self.factors)

    def adjoint(self, y):
        upsampled = upsample(y, self.factors)
        y_ft = mx.fft.rfftn(upsampled)
        return mx.fft.irfftn(y_ft * mx.conj(self.otf), axes=self.axes, s=self.highres_shape)


def gaussian_psf(shape, sigmas):
    """Anisotropic Gaussian PSF with its peak at the corner (FFT origin)."""
    grids = []
    for n in shape:
        c = np.fft.fftfreq(n) * n
        grids.append(c)
    zz, yy, xx = np.meshgrid(*grids, indexing="ij")
    psf = np.exp(-0.5 * ((zz / sigmas[0]) ** 2 + (yy / sigmas[1]) ** 2 + (xx / sigmas[2]) ** 2))
    return (psf / psf.sum()).astype(np.float32)


def make_beads(rng, n):
    """Fluorescent bead volumes: a few small bright blobs per stack."""
    vols = np.zeros((n, Z, Y, X), dtype=np.float32)
    zz, yy, xx = np.meshgrid(np.arange(Z), np.arange(Y), np.arange(X), indexing="ij")
    for i in range(n):
        for _ in range(rng.integers(6, 12)):
            cz, cy, cx = rng.uniform(1, Z - 2), rng.uniform(3, Y - 4), rng.uniform(3, X - 4)
            amp = rng.uniform(0.5, 1.0)
            r = rng.uniform(0.8, 1.4)
            vols[i] += amp * np.exp(-(((zz - cz) / 0.9) ** 2 + ((yy - cy) / r) ** 2 + ((xx - cx) / r) ** 2))
    return vols


class UnrolledDecon(nn.Module):
    def __init__(self, n_iters):
        super().__init__()
        self.log_steps = mx.full((n_iters,), math.log(0.5))
        self.refine1 = nn.Conv3d(1, 8, kernel_size=3, padding=1)
        self.refine2 = nn.Conv3d(8, 1, kernel_size=3, padding=1)
        self.n_iters = n_iters

    def __call__(self, y, A):
        x = A.adjoint(y) / A.operator_norm_sq
        for k in range(self.n_iters):
            grad = A.adjoint(A.forward(x) - y)
            x = x - mx.exp(self.log_steps[k]) * grad
            h = nn.relu(self.refine1(x[None, ..., None]))
            x = nn.relu(x + 0.1 * self.refine2(h)[0, ..., 0])
        return x


def psnr(est, ref):
    mse = mx.mean((est - ref) ** 2)
    peak = mx.max(ref)
    return 10.0 * mx.log10(peak * peak / mse)


def main():
    mx.random.seed(SEED)
    rng = np.random.default_rng(SEED)
    psf = gaussian_psf((Z, Y, X), sigmas=(1.6, 1.2, 1.2))
    A = BinnedConvolver(psf, FACTORS)
    print(f"grid {Z}x{Y}x{X} -> camera {A.lowres_shape}, bin factors {FACTORS}, ||A||^2 <= {A.operator_norm_sq:.0f}")

    train = make_beads(rng, 48)
    test = make_beads(rng, 6)

    def observe(vols, noise_rng):
        obs = []
        for v in vols:
            y = np.array(A.forward(mx.array(v)))
            y = y + noise_rng.normal(0, 0.01, y.shape).astype(np.float32)
            obs.append(y)
        return np.stack(obs)

    train_y = observe(train, rng)
    test_y = observe(test, rng)

    base = [psnr(upsample(mx.array(y), FACTORS) / A.operator_norm_sq, mx.array(v)).item()
            for y, v in zip(test_y, test)]
    print(f"baseline (replicate camera pixels): test PSNR {np.mean(base):.2f} dB")

    model = UnrolledDecon(N_ITERS)
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=LR)

    def loss_fn(model, ys, xs):
        total = 0.0
        for i in range(ys.shape[0]):
            total = total + mx.mean((model(ys[i], A) - xs[i]) ** 2)
        return total / ys.shape[0]

    loss_and_grad = nn.value_and_grad(model, loss_fn)

    def evaluate():
        vals = [psnr(model(mx.array(y), A), mx.array(v)).item() for y, v in zip(test_y, test)]
        return float(np.mean(vals))

    print(f"step    0  untrained test PSNR {evaluate():.2f} dB")
    t0 = time.time()
    for step in range(1, STEPS + 1):
        idx = rng.choice(len(train), BATCH, replace=False)
        ys, xs = mx.array(train_y[idx]), mx.array(train[idx])
        loss, grads = loss_and_grad(model, ys, xs)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 20 == 0:
            steps = " ".join(f"{v:.2f}" for v in mx.exp(model.log_steps).tolist())
            print(f"step {step:4d}  loss {loss.item():.5f}  test PSNR {evaluate():.2f} dB  steps [{steps}]")
    print(f"done in {time.time() - t0:.1f}s  final test PSNR {evaluate():.2f} dB")


if __name__ == "__main__":
    main()
