"""Learn an FIR inverse filter (one Conv1d) that undoes a fixed Gaussian blur.

Training data are fresh random sparse spike trains each step, blurred by a
known 7-tap Gaussian and corrupted with white noise.  The filter is trained by
MSE against the clean trains with Nesterov SGD.  Progress is reported as an
ASCII table of validation SNR in dB (higher is better) on a fixed held-out set.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

LENGTH, BATCH, NOISE = 256, 32, 0.02
rng = np.random.default_rng(5)
BLUR = np.exp(-0.5 * (np.arange(-3, 4) / 1.2) ** 2)
BLUR = (BLUR / BLUR.sum()).astype(np.float32)


def make_batch(n, rng):
    clean = np.zeros((n, LENGTH), dtype=np.float32)
    mask = rng.random((n, LENGTH)) < 0.06
    clean[mask] = rng.uniform(0.5, 1.5, size=mask.sum())
    blurred = np.stack([np.convolve(c, BLUR, mode="same") for c in clean])
    blurred += NOISE * rng.standard_normal(blurred.shape).astype(np.float32)
    return mx.array(blurred[..., None]), mx.array(clean[..., None])


def snr_db(est, ref):
    num = mx.sum(ref ** 2)
    den = mx.sum((est - ref) ** 2)
    return (10.0 * mx.log10(num / den)).item()


def main():
    mx.random.seed(2)
    filt = nn.Conv1d(1, 1, kernel_size=15, padding=7, bias=True)
    mx.eval(filt.parameters())
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)

    def mse(model, x, y):
        return nn.losses.mse_loss(model(x), y)

    step_fn = nn.value_and_grad(filt, mse)
    val_x, val_y = make_batch(256, np.random.default_rng(99))
    base = snr_db(val_x, val_y)
    print(f"held-out SNR of the blurred input itself: {base:.2f} dB")
    print("+-------+-----------+--------------+------------+")
    print("|  step | train mse | val SNR (dB) | gain (dB)  |")
    print("+-------+-----------+--------------+------------+")
    t0 = time.time()
    for step in range(1, 12001):
        x, y = make_batch(BATCH, rng)
        loss, grads = step_fn(filt, x, y)
        opt.update(filt, grads)
        mx.eval(filt.parameters(), opt.state, loss)
        if step % 1500 == 0 or step == 100:
            v = snr_db(filt(val_x), val_y)
            print(f"| {step:5d} | {loss.item():9.6f} | {v:12.2f} | {v - base:+10.2f} |")
    print("+-------+-----------+--------------+------------+")
    taps = np.array(filt.weight).ravel()
    print(f"finished in {time.time() - t0:.1f}s; centre tap {taps[7]:+.3f}, "
          f"tap sum {taps.sum():+.3f}, bias {filt.bias.item():+.4f}")


if __name__ == "__main__":
    main()
