"""Denoising autoencoder on synthetic 512-d signals.

Keeps every per-step loss so the whole loss curve can be summarised at the end.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

D = 512


class DAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(D, 64)
        self.dec = nn.Linear(64, D)

    def __call__(self, x):
        return self.dec(nn.tanh(self.enc(x)))


def recon_loss(model, noisy, clean):
    return nn.losses.mse_loss(model(noisy), clean, reduction="mean")


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(24, D)).astype(np.float32) / 5.0

    model = DAE()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)
    step_fn = nn.value_and_grad(model, recon_loss)

    bs, steps = 256, 500
    losses = []
    t0 = time.time()
    for it in range(1, steps + 1):
        clean = rng.normal(size=(bs, 24)).astype(np.float32) @ basis
        noisy = clean + 0.25 * rng.normal(size=clean.shape).astype(np.float32)
        loss, grads = step_fn(model, mx.array(noisy), mx.array(clean))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        losses.append(loss)
        if it % 100 == 0:
            print(f"it {it:5d} | recon {losses[-1].item():.5f} | {time.time() - t0:5.1f}s", flush=True)

    curve = np.array([l.item() for l in losses])
    print(f"done: first100 {curve[:100].mean():.5f}  last100 {curve[-100:].mean():.5f}  min {curve.min():.5f}")


if __name__ == "__main__":
    main()
