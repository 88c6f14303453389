"""Sparse identification of the Lorenz equations (SINDy-style) with MLX.

Library: all monomials of (x, y, z) up to degree 2 (10 terms). The coefficient
matrix Xi (10 x 3) is learned by Adam on the MSE between Theta(X) @ Xi and
finite-difference derivatives; from step 4000 on, every 1500 steps, coefficients below a threshold
are pruned (mask kept outside the trainable parameters), as in sequentially
thresholded least squares.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SIGMA, RHO, BETA = 10.0, 28.0, 8.0 / 3.0
NAMES = ["1", "x", "y", "z", "xx", "xy", "xz", "yy", "yz", "zz"]


def lorenz(s):
    x, y, z = s
    return np.array([SIGMA * (y - x), x * (RHO - z) - y, x * y - BETA * z])


def simulate(n=6000, dt=0.002, seed=3):
    rng = np.random.default_rng(seed)
    s = np.array([-8.0, 7.0, 27.0]) + rng.normal(0, 1, 3)
    out = np.empty((n, 3))
    for i in range(n):
        out[i] = s
        k1 = lorenz(s); k2 = lorenz(s + 0.5 * dt * k1)
        k3 = lorenz(s + 0.5 * dt * k2); k4 = lorenz(s + dt * k3)
        s = s + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return out, dt


def library(X):
    x, y, z = X[:, 0], X[:, 1], X[:, 2]
    cols = [np.ones_like(x), x, y, z, x * x, x * y, x * z, y * y, y * z, z * z]
    return np.stack(cols, axis=1)


class Sindy(nn.Module):
    def __init__(self, n_terms, n_state):
        super().__init__()
        self.xi = mx.zeros((n_terms, n_state))

    def __call__(self, theta, mask):
        return theta @ (self.xi * mask)


def main():
    X, dt = simulate()
    dX = (X[2:] - X[:-2]) / (2 * dt)          # central differences
    X = X[1:-1]
    X = X + np.random.default_rng(0).normal(0, 0.01, X.shape)
    theta = library(X)
    scale = np.abs(theta).max(axis=0)          # column scaling for conditioning
    theta_s = mx.array((theta / scale).astype(np.float32))
    target = mx.array(dX.astype(np.float32))
    scale_mx = mx.array(scale.astype(np.float32))

    model = Sindy(10, 3)
    mask = mx.ones((10, 3))
    opt = optim.Adam(learning_rate=1.0)

    def loss_fn(m, th, tgt, msk):
        return mx.mean((m(th, msk) - tgt) ** 2)

    vg = nn.value_and_grad(model, loss_fn)

    # first-step gradient check on every leaf
    _, g0 = vg(model, theta_s, target, mask)
    for k, v in tree_flatten(g0):
        assert float(mx.abs(v).max()) > 0, k

    true = np.zeros((10, 3))
    true[1, 0], true[2, 0] = -SIGMA, SIGMA
    true[1, 1], true[2, 1], true[6, 1] = RHO, -1.0, -1.0
    true[5, 2], true[3, 2] = 1.0, -BETA

    t0 = time.time()
    steps, warmup, prune_every, thresh = 8500, 4000, 1500, 0.25
    print("step  | mse         | active | max|coef err|")
    print("------+-------------+--------+--------------")
    for step in range(1, steps + 1):
        loss, grads = vg(model, theta_s, target, mask)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 500 == 0:
            coefs = np.array(model.xi * mask) / scale[:, None]
            err = np.abs(coefs - true).max()
            active = int(np.array(mask).sum())
            print(f"{step:5d} | {loss.item():11.5f} | {active:6d} | {err:12.4f}")
            if step >= warmup and (step - warmup) % prune_every == 0 and step < steps:
                keep = (np.abs(coefs) >= thresh).astype(np.float32)
                mask = mask * mx.array(keep)
    coefs = np.array(model.xi * mask) / scale[:, None]
    print("\nrecovered equations:")
    for j, lhs in enumerate(["dx/dt", "dy/dt", "dz/dt"]):
        terms = [f"{coefs[i, j]:+.3f}*{NAMES[i]}" for i in range(10) if abs(coefs[i, j]) > 0]
        print(f"  {lhs} = {' '.join(terms)}")
    print(f"elapsed {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
