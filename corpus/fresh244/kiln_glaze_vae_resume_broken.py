"""Glaze test-tile reflectance VAE, trained in two sessions with a weights checkpoint in between.

Each synthetic test tile gives a 16-band reflectance curve (0..1) that depends on
iron-oxide load, firing peak temperature and glaze thickness. Session 1 trains for a few
epochs and writes a safetensors checkpoint; session 2 builds a new model, copies the
checkpoint tensors into it and carries on.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

BANDS = 16
LATENT = 3
BATCH = 128
EPOCHS_PER_SESSION = 6


def make_tiles(n, rng):
    wl = np.linspace(0.0, 1.0, BANDS)[None, :]
    iron = rng.uniform(0.0, 1.0, (n, 1))
    temp = rng.uniform(0.0, 1.0, (n, 1))
    thick = rng.uniform(0.0, 1.0, (n, 1))
    base = 0.25 + 0.55 / (1.0 + np.exp(-(wl - 0.35 - 0.3 * iron) * 9.0))
    dip = 0.18 * temp * np.exp(-((wl - 0.55) ** 2) / 0.01)
    gloss = 0.08 * thick * np.cos(6.0 * wl + 2.0 * temp)
    x = base - dip + gloss + 0.015 * rng.standard_normal((n, BANDS))
    return np.clip(x, 0.01, 0.99).astype(np.float32)


class GlazeVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(BANDS, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU()
        )
        self.mu = nn.Linear(48, LATENT)
        self.logvar = nn.Linear(48, LATENT)
        self.decoder = nn.Sequential(
            nn.Linear(LATENT, 48), nn.SiLU(), nn.Linear(48, BANDS), nn.Sigmoid()
        )

    def __call__(self, x, eps):
        h = self.encoder(x)
        mu, logvar = self.mu(h), mx.clip(self.logvar(h), -8.0, 4.0)
        z = mu + mx.exp(0.5 * logvar) * eps
        return self.decoder(z), mu, logvar


def loss_parts(model, x, eps):
    xhat, mu, logvar = model(x, eps)
    recon = mx.sum((xhat - x) ** 2, axis=1).mean() * 200.0
    kl = (-0.5 * mx.sum(1.0 + logvar - mu**2 - mx.exp(logvar), axis=1)).mean()
    return recon, kl


def loss_fn(model, x, eps):
    recon, kl = loss_parts(model, x, eps)
    return recon + kl


def copy_into(dst, params):
    # walk the module tree and drop checkpoint tensors into place
    if isinstance(params, dict):
        for k in params:
            if k in dst:
                current_value = dst[k]
                new_value = params[k]
                if isinstance(current_value, mx.array):
                    dst[k] = new_value
                elif isinstance(current_value, (nn.Module, dict, list)):
                    copy_into(current_value, new_value)
    elif isinstance(params, list):
        for i in range(len(dst)):
            current_value = dst[i]
            new_value = params[i]
            if isinstance(current_value, mx.array):
                dst[i] = new_value
            elif isinstance(current_value, (nn.Module, dict, list)):
                copy_into(current_value, new_value)


def evaluate(model, x):
    eps = mx.zeros((x.shape[0], LATENT))
    recon, kl = loss_parts(model, x, eps)
    return recon.item(), kl.item()


def run_epochs(model, opt, train, valid, first_epoch, n_epochs, rng):
    step = nn.value_and_grad(model, loss_fn)
    n = train.shape[0]
    for epoch in range(first_epoch, first_epoch + n_epochs):
        perm = rng.permutation(n)
        tot, cnt = 0.0, 0
        for i in range(0, n - BATCH + 1, BATCH):
            xb = train[mx.array(perm[i : i + BATCH])]
            eps = mx.random.normal((BATCH, LATENT))
            loss, grads = step(model, xb, eps)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            cnt += 1
        vr, vk = evaluate(model, valid)
        print(
            f"epoch {epoch:2d} | train loss {tot / cnt:8.4f} | "
            f"val recon {vr:7.4f} | val kl {vk:6.3f}"
        )


def main():
    t0 = time.time()
    mx.random.seed(11)
    rng = np.random.default_rng(11)
    train = mx.array(make_tiles(4096, rng))
    valid = mx.array(make_tiles(512, rng))
    ckpt_dir = tempfile.mkdtemp()
    ckpt = os.path.join(ckpt_dir, "glaze_vae.safetensors")

    print("session 1: fresh model")
    model = GlazeVAE()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=2e-3)
    run_epochs(model, opt, train, valid, 1, EPOCHS_PER_SESSION, rng)
    mx.save_safetensors(ckpt, dict(tree_flatten(model.parameters())))
    saved_recon, saved_kl = evaluate(model, valid)
    print(f"checkpoint written: {len(tree_flatten(model.parameters()))} tensors, "
          f"val recon {saved_recon:.4f}")

    print("session 2: resume from checkpoint")
    model = GlazeVAE()
    mx.eval(model.parameters())
    weights = tree_unflatten(list(mx.load(ckpt).items()))
    copy_into(model, weights)
    mx.eval(model.parameters())
    re_recon, re_kl = evaluate(model, valid)
    print(f"reloaded val recon {re_recon:.4f} (checkpoint {saved_recon:.4f})")
    opt = optim.Adam(learning_rate=1e-3)
    run_epochs(model, opt, train, valid, EPOCHS_PER_SESSION + 1, EPOCHS_PER_SESSION, rng)

    vr, vk = evaluate(model, valid)
    print(f"final val recon {vr:.4f} | val kl {vk:.3f} | {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
