"""Denoising autoencoder on low-rank synthetic signals, with a compiled train step
built once inside the Trainer for speed."""
import time

import mlx.core as mx
import mlx.optimizers as optimizers
from mlx import nn


class DAE(nn.Module):
    def __init__(self, d=24, z=4):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, 16), nn.SiLU(), nn.Linear(16, z))
        self.dec = nn.Sequential(nn.Linear(z, 16), nn.SiLU(), nn.Linear(16, d))
        self.drop = nn.Dropout(0.1)

    def __call__(self, x):
        return self.dec(self.enc(self.drop(x)))


class Trainer:
    def __init__(self, model, lr=1e-3):
        self.model = model
        self.opt = optimizers.Lion(learning_rate=lr, weight_decay=0.0)
        self._grad = nn.value_and_grad(model, self._recon)
        self._step = mx.compile(self._train_step)

    def _recon(self, noisy, clean):
        return mx.mean((self.model(noisy) - clean) ** 2)

    def _train_step(self, noisy, clean):
        loss, grads = self._grad(noisy, clean)
        self.opt.update(self.model, grads)
        return loss

    def fit(self, signals, steps=400, bs=32):
        n = signals.shape[0]
        for s in range(steps):
            idx = mx.random.randint(0, n, (bs,))
            clean = signals[idx]
            noisy = clean + 0.1 * mx.random.normal(clean.shape)
            loss = self._step(noisy, clean)
            mx.eval(loss, self.model.parameters(), self.opt.state)
            if s % 100 == 0 or s == steps - 1:
                print(f"step {s:4d} recon {loss.item():.5f}")


def main():
    mx.random.seed(4)
    basis = mx.random.normal((4, 24))
    signals = mx.random.normal((512, 4)) @ basis / 2.0
    model = DAE()
    mx.eval(model.parameters())
    t0 = time.perf_counter()
    Trainer(model).fit(signals)
    print(f"done in {time.perf_counter() - t0:.2f}s")


if __name__ == "__main__":
    main()
