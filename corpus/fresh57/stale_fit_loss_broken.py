"""Calibrate a pressure sensor: fit reading ~= gain * pressure + offset by plain gradient
descent, sweep a few step sizes and keep the one with the lowest final MSE."""
import time
from dataclasses import dataclass

import numpy as np
import mlx.core as mx


@dataclass(frozen=True)
class LineFit:
    weight: mx.array
    bias: mx.array
    loss: mx.array


def _loss(weight, bias, x, y):
    return mx.mean(mx.square(weight * x + bias - y))


def fit_line(x, y, *, steps=200, learning_rate=0.05):
    """Fit y ~= weight * x + bias with gradient descent."""
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {x.shape} and {y.shape}")
    weight = mx.array(0.0)
    bias = mx.array(0.0)
    loss_and_grad = mx.value_and_grad(_loss, argnums=[0, 1])

    loss = mx.array(float("inf"))
    for _ in range(steps):
        loss, (weight_grad, bias_grad) = loss_and_grad(weight, bias, x, y)
        weight = weight - learning_rate * weight_grad
        bias = bias - learning_rate * bias_grad
        mx.eval(weight, bias, loss)

    return LineFit(weight=weight, bias=bias, loss=loss)


def main():
    rng = np.random.default_rng(7)
    n = 1_500_000
    pressure = rng.uniform(-2.0, 2.0, size=n).astype(np.float32)      # normalised kPa
    reading = (2.7 * pressure - 1.3 + rng.normal(0, 0.05, size=n)).astype(np.float32)
    x, y = mx.array(pressure), mx.array(reading)

    t0 = time.time()
    print(f"{'lr':>6} {'steps':>6} {'gain':>8} {'offset':>8} {'final mse':>12}")
    fits = {}
    for lr in (0.02, 0.05, 0.12, 0.3, 0.7):
        for steps in (15, 60, 240):
            fit = fit_line(x, y, steps=steps, learning_rate=lr)
            fits[(lr, steps)] = fit
            print(f"{lr:>6} {steps:>6} {fit.weight.item():>8.4f} {fit.bias.item():>8.4f} "
                  f"{fit.loss.item():>12.6f}")
    best_key = min(fits, key=lambda k: fits[k].loss.item())
    best = fits[best_key]
    print(f"selected lr={best_key[0]} steps={best_key[1]}: gain={best.weight.item():.4f} "
          f"offset={best.bias.item():.4f} reported mse={best.loss.item():.6f}")

    # acceptance check: the reported mse must be the mse of the returned calibration
    worst = 0.0
    for k, fit in fits.items():
        true_mse = _loss(fit.weight, fit.bias, x, y).item()
        rel = abs(fit.loss.item() - true_mse) / max(true_mse, 1e-12)
        worst = max(worst, rel)
    print(f"check: max relative gap between reported and recomputed mse = {worst:.3e} "
          f"({'OK' if worst < 1e-3 else 'MISMATCH'})")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
