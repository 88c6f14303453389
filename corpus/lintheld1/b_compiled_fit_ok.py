"""Denoising autoencoder on synthetic 'sensor' windows, with a compiled step."""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class AutoEncoder(nn.Module):
    def __init__(self, dim=24, code=4):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(dim, 16), nn.SiLU(), nn.Linear(16, code))
        self.dec = nn.Sequential(nn.Linear(code, 16), nn.SiLU(), nn.Linear(16, dim))

    def __call__(self, x):
        return self.dec(self.enc(x))


def sensor_windows(n, dim=24, seed=0):
    mx.random.seed(seed)
    t = mx.arange(dim).astype(mx.float32) / dim
    freq = mx.random.uniform(1.0, 3.0, (n, 1))
    phase = mx.random.uniform(0.0, 6.28, (n, 1))
    amp = mx.random.uniform(0.5, 1.5, (n, 1))
    return amp * mx.sin(6.28 * freq * t + phase)


def fit(autoenc, data, epochs=6, batch=128, noise=0.1):
    opt = optim.Lion(learning_rate=1e-3, weight_decay=1e-4)

    def recon_loss(m, clean):
        noisy = clean + noise * mx.random.normal(clean.shape)
        return nn.losses.mse_loss(m(noisy), clean)

    grad_fn = nn.value_and_grad(autoenc, recon_loss)

    def train_step(clean):
        loss, grads = grad_fn(autoenc, clean)
        opt.update(autoenc, grads)
        return loss

    state = [autoenc.state, opt.state, mx.random.state]
    train_step = mx.compile(train_step, inputs=state, outputs=state)

    for epoch in range(epochs):
        tic = time.perf_counter()
        total, n = 0.0, 0
        for i in range(0, data.shape[0], batch):
            loss = train_step(data[i:i + batch])
            mx.eval(loss, autoenc.parameters(), opt.state)
            total += loss.item()
            n += 1
        print(f"epoch {epoch}: recon {total / n:.4f} ({time.perf_counter() - tic:.2f}s)")
    return autoenc


if __name__ == "__main__":
    data = sensor_windows(2048)
    model = fit(AutoEncoder(), data)
    print("final recon mse", nn.losses.mse_loss(model(data), data).item())
