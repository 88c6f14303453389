"""Denoising autoencoder on low-rank synthetic signals."""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SIG_DIM, RANK, CODE = 24, 3, 6


def clean_signals(n, key):
    k1, k2 = mx.random.split(key)
    basis = mx.random.normal((RANK, SIG_DIM), key=mx.random.key(99))
    return mx.random.normal((n, RANK), key=k1) @ basis


def noisy_batches(data, batch_size, sigma):
    """Generator: shuffles once per pass, corrupts each batch with gaussian noise."""
    order = mx.random.permutation(data.shape[0])
    for start in range(0, data.shape[0] - batch_size + 1, batch_size):
        clean = data[order[start : start + batch_size]]
        noisy = clean + sigma * mx.random.randn(*clean.shape)
        yield noisy, clean


class DAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(SIG_DIM, 32), nn.Tanh(), nn.Linear(32, CODE))
        self.dec = nn.Sequential(nn.Linear(CODE, 32), nn.Tanh(), nn.Linear(32, SIG_DIM))

    def __call__(self, x):
        return self.dec(self.enc(x))


def recon(ae, noisy, clean):
    return ((ae(noisy) - clean) ** 2).mean()


if __name__ == "__main__":
    mx.random.seed(3)
    data = clean_signals(2000, mx.random.key(0))
    ae = DAE()
    opt = optim.RMSprop(learning_rate=3e-3)
    grad_fn = nn.value_and_grad(ae, recon)

    epoch, patience, best = 0, 2, float("inf")
    t0 = time.time()
    while epoch < 15 and patience > 0:
        total, n = 0.0, 0
        for noisy, clean in noisy_batches(data, 100, sigma=0.3):
            l, g = grad_fn(ae, noisy, clean)
            opt.update(ae, g)
            mx.eval(ae.parameters(), opt.state)
            total, n = total + l.item(), n + 1
        avg = total / n
        print(f"epoch {epoch:2d} recon {avg:.4f}")
        if avg < best - 1e-3:
            best = avg
        else:
            patience -= 1
        epoch += 1
    print(f"best {best:.4f} in {time.time() - t0:.1f}s")
