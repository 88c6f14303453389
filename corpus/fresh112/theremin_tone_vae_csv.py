"""Variational autoencoder for theremin tone spectra.

Each recorded note is summarised as a 24-bin log-magnitude harmonic profile.
Profiles are synthesised here from three hidden knobs a player controls
(brightness, vibrato depth, hand distance -> loudness) plus recording noise.

The decoder predicts a mean and a per-bin log-variance, so the reconstruction
term is a proper Gaussian NLL and the negative ELBO can drop below zero.
The KL weight is annealed from 0 to 1 over the first 800 steps, so the
reported loss first climbs while the KL term is switched on, then falls.

Output is CSV on stdout (one header row, then one row per report).
"""
import csv
import math
import sys
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_BINS = 24
LATENT = 4
BATCH = 128
STEPS = 2400
REPORT_EVERY = 150
ANNEAL_STEPS = 800


def make_profiles(n, rng):
    k = np.arange(1, N_BINS + 1, dtype=np.float32)
    bright = rng.uniform(0.15, 0.9, size=(n, 1)).astype(np.float32)
    vib = rng.uniform(0.0, 1.0, size=(n, 1)).astype(np.float32)
    loud = rng.uniform(-1.0, 1.0, size=(n, 1)).astype(np.float32)
    # harmonic roll-off controlled by brightness, odd harmonics lifted by vibrato
    env = -bright * np.log(k)[None, :] * 2.2
    odd = (k % 2 == 1).astype(np.float32)[None, :]
    env = env + 0.6 * vib * odd - 0.3 * vib * np.sin(k / 3.0)[None, :]
    env = env + 1.4 * loud
    noise = rng.normal(0.0, 0.08, size=env.shape).astype(np.float32)
    return (env + noise).astype(np.float32)


class ToneVAE(nn.Module):
    def __init__(self, n_bins=N_BINS, latent=LATENT, hidden=64):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(n_bins, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU())
        self.to_mu = nn.Linear(hidden, latent)
        self.to_logvar = nn.Linear(hidden, latent)
        self.dec = nn.Sequential(nn.Linear(latent, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU())
        self.out_mu = nn.Linear(hidden, n_bins)
        self.out_logvar = nn.Linear(hidden, n_bins)

    def encode(self, x):
        h = self.enc(x)
        return self.to_mu(h), mx.clip(self.to_logvar(h), -8.0, 4.0)

    def decode(self, z):
        h = self.dec(z)
        return self.out_mu(h), mx.clip(self.out_logvar(h), -7.0, 3.0)

    def __call__(self, x):
        mu, logvar = self.encode(x)
        eps = mx.random.normal(mu.shape)
        z = mu + mx.exp(0.5 * logvar) * eps
        x_mu, x_logvar = self.decode(z)
        return mu, logvar, x_mu, x_logvar


def elbo_terms(model, x):
    mu, logvar, x_mu, x_logvar = model(x)
    nll = 0.5 * (x_logvar + (x - x_mu) ** 2 * mx.exp(-x_logvar)
                 + math.log(2 * math.pi))
    recon = mx.mean(mx.sum(nll, axis=-1))
    kl = mx.mean(mx.sum(-0.5 * (1 + logvar - mu ** 2 - mx.exp(logvar)), axis=-1))
    return recon, kl


def annealed_loss(model, x, beta):
    recon, kl = elbo_terms(model, x)
    return recon + beta * kl, (recon, kl)


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    train = make_profiles(16000, rng)
    valid = make_profiles(2000, rng)
    mean, std = train.mean(0), train.std(0) + 1e-6
    train = (train - mean) / std
    valid = (valid - mean) / std
    # the per-bin scaling shifts the NLL; add log(std) back to report it in dB-ish units
    log_std_sum = float(np.log(std).sum())

    model = ToneVAE()
    mx.eval(model.parameters())
    opt = optim.Adamax(learning_rate=2e-3)

    # one eager step first: every leaf must receive a gradient
    vg = nn.value_and_grad(model, lambda m, x: annealed_loss(m, x, 1.0)[0])
    _, g0 = vg(model, mx.array(train[:BATCH]))
    zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
    if zero:
        raise SystemExit(f"leaves with no gradient: {zero}")

    state = [model.state, opt.state, mx.random.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, beta):
        fn = nn.value_and_grad(model, annealed_loss)
        (loss, (recon, kl)), grads = fn(model, x, beta)
        opt.update(model, grads)
        return loss, recon, kl

    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["step", "kl_weight", "neg_elbo_annealed", "recon_nll",
                  "kl_nats", "valid_neg_elbo", "valid_neg_elbo_raw_units", "secs"])

    t0 = time.time()
    order = rng.permutation(len(train))
    pos = 0
    acc = np.zeros(3)
    n_acc = 0
    for it in range(1, STEPS + 1):
        if pos + BATCH > len(order):
            order = rng.permutation(len(train))
            pos = 0
        idx = order[pos:pos + BATCH]
        pos += BATCH
        beta = min(1.0, it / ANNEAL_STEPS)
        loss, recon, kl = step(mx.array(train[idx]), mx.array(beta))
        mx.eval(loss, recon, kl, state)
        acc += (loss.item(), recon.item(), kl.item())
        n_acc += 1
        if it % REPORT_EVERY == 0 or it == 1:
            vr, vk = elbo_terms(model, mx.array(valid))
            v = (vr + vk).item()
            m = acc / n_acc
            out.writerow([it, f"{beta:.3f}", f"{m[0]:.4f}", f"{m[1]:.4f}",
                          f"{m[2]:.4f}", f"{v:.4f}", f"{v + log_std_sum:.4f}",
                          f"{time.time() - t0:.1f}"])
            sys.stdout.flush()
            acc[:] = 0
            n_acc = 0


if __name__ == "__main__":
    main()
