"""Denoising autoencoder on synthetic low-rank signals; steps are produced by a generator."""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

D, CODE, BATCH = 96, 8, 256


class DAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(D, 48), nn.ReLU(), nn.Linear(48, CODE))
        self.dec = nn.Sequential(nn.Linear(CODE, 48), nn.ReLU(), nn.Linear(48, D))

    def __call__(self, x):
        return self.dec(self.enc(x))


def signal_batches(basis, n_steps, noise=0.3):
    for _ in range(n_steps):
        z = mx.random.normal((BATCH, basis.shape[0]))
        clean = z @ basis
        yield clean + noise * mx.random.normal(clean.shape), clean


def recon_loss(model, noisy, clean):
    return ((model(noisy) - clean) ** 2).mean()


def train_steps(model, opt, batches):
    """Runs one optimizer step per batch and yields that step's loss."""
    vg = nn.value_and_grad(model, recon_loss)
    for noisy, clean in batches:
        loss, grads = vg(model, noisy, clean)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        yield loss


def main(epochs=2, steps_per_epoch=400):
    mx.random.seed(0)
    basis = mx.random.normal((CODE, D)) / CODE**0.5
    model = DAE()
    mx.eval(model.parameters(), basis)
    opt = optim.Adam(learning_rate=1e-3)
    for ep in range(epochs):
        t0 = time.perf_counter()
        epoch_loss = mx.array(0.0)
        for loss in train_steps(model, opt, signal_batches(basis, steps_per_epoch)):
            epoch_loss = epoch_loss + loss
            mx.eval(epoch_loss)
        print(f"epoch {ep}: mean recon {epoch_loss.item() / steps_per_epoch:.4f} "
              f"({time.perf_counter() - t0:.1f}s)", flush=True)


if __name__ == "__main__":
    main()
