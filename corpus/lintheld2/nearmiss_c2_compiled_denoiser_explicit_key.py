"""Denoising autoencoder; the compiled step draws its corruption noise from a PRNG key that
is split outside and passed in as an argument, so compile's captured state does not need
mx.random.state."""
from functools import partial
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


def main():
    mx.random.seed(0)
    proj = mx.random.normal((4, 24))
    data = mx.tanh(mx.random.normal((1024, 4)) @ proj)

    dae = nn.Sequential(nn.Linear(24, 16), nn.Tanh(), nn.Linear(16, 24))
    opt = optim.Adam(learning_rate=3e-3)
    captured = [dae.state, opt.state]

    def corrupt_and_score(clean, key):
        noisy = clean + 0.5 * mx.random.normal(clean.shape, key=key)
        return nn.losses.mse_loss(dae(noisy), clean)

    grad_fn = nn.value_and_grad(dae, corrupt_and_score)

    @partial(mx.compile, inputs=captured, outputs=captured)
    def step(clean, key):
        loss, grads = grad_fn(clean, key)
        opt.update(dae, grads)
        return loss

    key = mx.random.key(42)
    seen = []
    t0 = time.time()
    for it in range(300):
        key, sub = mx.random.split(key)
        batch = data[(it * 64) % 1024:(it * 64) % 1024 + 64]
        loss = step(batch, sub)
        mx.eval(captured)
        if it < 3:
            seen.append(mx.random.normal((3,), key=sub))
        if it % 100 == 0 or it == 299:
            print(f"it {it:3d}  loss {loss.item():.4f}")
    fresh = data + 0.5 * mx.random.normal(data.shape, key=mx.random.key(7))
    test = nn.losses.mse_loss(dae(fresh), data).item()
    print(f"noise differs between steps: {not mx.array_equal(seen[0], seen[1]).item()}; "
          f"denoise mse on fresh noise {test:.4f} vs noisy-input mse "
          f"{nn.losses.mse_loss(fresh, data).item():.4f}  ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
