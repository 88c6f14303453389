"""Differential-drive odometry calibration from motion-capture runs.

Estimates the left/right wheel radii and the track width of a small robot by
integrating wheel-encoder increments into a 2-D trajectory (dead reckoning,
vectorised with cumulative sums) and matching it to noisy motion-capture
positions.  Parameters are log-parametrised raw arrays of an nn.Module; the
Adam step is compiled with the model and optimizer state as implicit
inputs/outputs.  Silent while fitting; prints a TOML calibration report.
"""
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

DT = 0.02
RUNS, STEPS = 8, 400
TRUE = {"r_left": 0.0335, "r_right": 0.0318, "track": 0.162}
NOMINAL = {"r_left": 0.0325, "r_right": 0.0325, "track": 0.150}


def integrate(r_l, r_r, b, dphi_l, dphi_r):
    ds = 0.5 * (r_r * dphi_r + r_l * dphi_l)
    dth = (r_r * dphi_r - r_l * dphi_l) / b
    th = mx.cumsum(dth, axis=1)
    th_mid = th - 0.5 * dth
    x = mx.cumsum(ds * mx.cos(th_mid), axis=1)
    y = mx.cumsum(ds * mx.sin(th_mid), axis=1)
    return x, y, th


def simulate(rng):
    t = np.arange(STEPS) * DT
    wl, wr = [], []
    for k in range(RUNS):
        base = rng.uniform(4.0, 9.0)
        turn = rng.uniform(-3.0, 3.0) * np.sin(2 * np.pi * t / rng.uniform(2.0, 6.0) + rng.uniform(0, 6))
        wl.append(base - turn)
        wr.append(base + turn)
    dphi_l = np.array(wl, np.float32) * DT
    dphi_r = np.array(wr, np.float32) * DT
    x, y, th = integrate(
        mx.array(TRUE["r_left"]), mx.array(TRUE["r_right"]), mx.array(TRUE["track"]),
        mx.array(dphi_l), mx.array(dphi_r))
    noise = 0.004
    mx_x = np.array(x) + rng.normal(0, noise, x.shape)
    mx_y = np.array(y) + rng.normal(0, noise, y.shape)
    # encoder quantisation: 1024 ticks per revolution
    q = 2 * np.pi / 1024
    dphi_l = np.round(dphi_l / q) * q
    dphi_r = np.round(dphi_r / q) * q
    return [mx.array(a.astype(np.float32)) for a in (dphi_l, dphi_r, mx_x, mx_y)], noise


class Odometry(nn.Module):
    def __init__(self):
        super().__init__()
        self.log_r_left = mx.array(np.log(NOMINAL["r_left"]), dtype=mx.float32)
        self.log_r_right = mx.array(np.log(NOMINAL["r_right"]), dtype=mx.float32)
        self.log_track = mx.array(np.log(NOMINAL["track"]), dtype=mx.float32)

    def __call__(self, dphi_l, dphi_r):
        return integrate(mx.exp(self.log_r_left), mx.exp(self.log_r_right),
                         mx.exp(self.log_track), dphi_l, dphi_r)


def rms_error(model, dphi_l, dphi_r, px, py):
    x, y, _ = model(dphi_l, dphi_r)
    return mx.sqrt(mx.mean((x - px) ** 2 + (y - py) ** 2))


def loss_fn(model, dphi_l, dphi_r, px, py):
    x, y, _ = model(dphi_l, dphi_r)
    return mx.mean((x - px) ** 2 + (y - py) ** 2) * 1e4  # cm^2


def main():
    rng = np.random.default_rng(7)
    (dphi_l, dphi_r, px, py), noise = simulate(rng)
    model = Odometry()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=optim.cosine_decay(2e-3, 3000, end=1e-4))
    vg = nn.value_and_grad(model, loss_fn)

    _, g0 = vg(model, dphi_l, dphi_r, px, py)
    flat = tree_flatten(g0)
    zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(a, b, c, d):
        loss, grads = vg(model, a, b, c, d)
        opt.update(model, grads)
        return loss

    start_rms = rms_error(model, dphi_l, dphi_r, px, py).item()
    t0 = time.time()
    history = []
    for it in range(1, 3001):
        loss = step(dphi_l, dphi_r, px, py)
        mx.eval(state, loss)
        if it in (1, 10, 100, 300, 1000, 2000, 3000):
            history.append((it, loss.item()))
    secs = time.time() - t0
    end_rms = rms_error(model, dphi_l, dphi_r, px, py).item()

    est = {
        "r_left": float(mx.exp(model.log_r_left)),
        "r_right": float(mx.exp(model.log_r_right)),
        "track": float(mx.exp(model.log_track)),
    }
    print("# differential-drive odometry calibration")
    print("[setup]")
    print(f"runs = {RUNS}")
    print(f"samples_per_run = {STEPS}")
    print(f"parameters = {len(flat)}")
    print(f"zero_gradient_parameters = {zero!r}".replace("'", '"'))
    print(f"mocap_noise_m = {noise}")
    print()
    print("[fit]")
    print(f"iterations = 3000")
    print(f"seconds = {secs:.2f}")
    print(f"rms_position_error_start_m = {start_rms:.4f}")
    print(f"rms_position_error_end_m = {end_rms:.4f}")
    print()
    for name in ("r_left", "r_right", "track"):
        print(f"[calibration.{name}]")
        print(f"nominal_m = {NOMINAL[name]:.5f}")
        print(f"estimated_m = {est[name]:.5f}")
        print(f"true_m = {TRUE[name]:.5f}")
        print(f"error_pct = {100 * (est[name] - TRUE[name]) / TRUE[name]:+.2f}")
        print()
    for it, l in history:
        print("[[history]]")
        print(f"iteration = {it}")
        print(f"mse_cm2 = {l:.4f}")
        print()


if __name__ == "__main__":
    main()
