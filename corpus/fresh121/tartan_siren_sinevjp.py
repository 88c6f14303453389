"""Fit a SIREN (sine-activated MLP) to a small procedural tartan swatch.

A random fifth of the pixels is held out so we can see how well
the network fills the gaps.  The sine nonlinearity is written as a custom
function with its own backward pass (d/dx sin(w x) = w cos(w x)).
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

H = W = 48
STEPS = 1500
BATCH = 512
PEAK_LR = 1e-3
WARMUP = 60
REPORT_EVERY = 150


def make_tartan(h, w, seed=3):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    # a sett: stripes of different widths in warp and weft, twill-ish mixing
    def stripes(coord, period, widths, levels):
        phase = coord % period
        out = np.zeros_like(coord)
        edge = 0.0
        for wd, lv in zip(widths, levels):
            out = np.where((phase >= edge) & (phase < edge + wd), lv, out)
            edge += wd
        return out
    warp = stripes(xx, 16.0, [6, 2, 5, 3], [0.9, 0.1, 0.55, 0.3])
    weft = stripes(yy, 12.0, [4, 2, 4, 2], [0.8, 0.2, 0.6, 0.05])
    twill = ((xx + yy) % 4 < 2).astype(np.float32)
    img = (0.5 * (warp + weft) + 0.08 * twill * (warp - weft)) * 0.8 + 0.1 * np.sin(xx / 7.0) * np.cos(yy / 5.0)
    img = img + rng.normal(0, 0.01, img.shape).astype(np.float32)
    return img.astype(np.float32)


@mx.custom_function
def sine(x, omega):
    return mx.sin(omega * x)


@sine.vjp
def sine_vjp(primals, cotangent, output):
    x, omega = primals
    dx = cotangent * omega * mx.cos(omega * x)
    return dx, mx.zeros_like(omega)


class SineLayer(nn.Module):
    def __init__(self, din, dout, omega, first):
        super().__init__()
        self.linear = nn.Linear(din, dout)
        bound = 1.0 / din if first else math.sqrt(6.0 / din) / omega
        self.linear.weight = mx.random.uniform(-bound, bound, (dout, din))
        self.linear.bias = mx.random.uniform(-bound, bound, (dout,))
        self._omega = mx.array(omega, dtype=mx.float32)

    def __call__(self, x):
        return sine(self.linear(x), self._omega)


class Siren(nn.Module):
    def __init__(self, hidden=48, depth=3, omega0=8.0):
        super().__init__()
        layers = [SineLayer(2, hidden, omega0, first=True)]
        for _ in range(depth - 1):
            layers.append(SineLayer(hidden, hidden, 1.0 * omega0, first=False))
        self.body = layers
        self.out = nn.Linear(hidden, 1)
        b = math.sqrt(6.0 / hidden) / omega0
        self.out.weight = mx.random.uniform(-b, b, (1, hidden))

    def __call__(self, coords):
        h = coords
        for layer in self.body:
            h = layer(h)
        return self.out(h).squeeze(-1)


def psnr(mse):
    return 10.0 * math.log10(1.0 / max(mse, 1e-12))


def main():
    mx.random.seed(21)
    rng = np.random.default_rng(21)
    img = make_tartan(H, W)
    ys, xs = np.mgrid[0:H, 0:W]
    coords = np.stack([2 * xs / (W - 1) - 1, 2 * ys / (H - 1) - 1], -1).reshape(-1, 2).astype(np.float32)
    values = img.reshape(-1)
    held = rng.random(H * W) < 0.2
    fit_idx = np.flatnonzero(~held)
    gap_idx = np.flatnonzero(held)
    C_fit, V_fit = mx.array(coords[fit_idx]), mx.array(values[fit_idx])
    C_gap, V_gap = mx.array(coords[gap_idx]), mx.array(values[gap_idx])
    print(f"tartan {H}x{W}: {len(fit_idx)} pixels to fit, {len(gap_idx)} held out, "
          f"pixel variance {values.var():.4f}")

    model = Siren()
    mx.eval(model.parameters())

    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARMUP),
         optim.cosine_decay(PEAK_LR, STEPS - WARMUP, 1e-5)],
        [WARMUP],
    )
    opt = optim.Adam(learning_rate=schedule)

    def loss_fn(m, c, v):
        return mx.mean((m(c) - v) ** 2)

    grad_fn = nn.value_and_grad(model, loss_fn)

    def full_mse(c, v):
        return mx.mean((model(c) - v) ** 2).item()

    print(f"untrained: fit {psnr(full_mse(C_fit, V_fit)):.2f} dB, gaps {psnr(full_mse(C_gap, V_gap)):.2f} dB")

    t0 = time.perf_counter()
    for step in range(1, STEPS + 1):
        idx = mx.array(rng.choice(len(fit_idx), BATCH, replace=False))
        loss, grads = grad_fn(model, C_fit[idx], V_fit[idx])
        if step == 1:
            leaves = tree_flatten(grads)
            dead = [k for k, g in leaves if mx.abs(g).max().item() == 0.0]
            print(f"step 1 gradient check: {len(leaves)} leaves, {len(dead)} all-zero {dead}")
        lr_now = opt.learning_rate.item()
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % REPORT_EVERY == 0:
            fit_db = psnr(full_mse(C_fit, V_fit))
            gap_db = psnr(full_mse(C_gap, V_gap))
            print(f"[{step:4d}/{STEPS}] lr {lr_now:.2e}  batch mse {loss.item():.2e}  "
                  f"fit {fit_db:6.2f} dB  gaps {gap_db:6.2f} dB  ({time.perf_counter() - t0:.1f}s)")
    print("done; PSNR is higher-is-better, 'gaps' are the held-out pixels")


if __name__ == "__main__":
    main()
