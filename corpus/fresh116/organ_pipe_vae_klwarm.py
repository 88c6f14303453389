"""VAE of organ-pipe harmonic spectra with KL warm-up.

Each pipe's voicing (scale, mouth cut-up, wind pressure) sets the log
amplitudes of its first 16 harmonics. A 3-d latent VAE with a Gaussian decoder
(learned per-harmonic log sigma) learns them. The objective is the negative
ELBO in nats per pipe with beta ramped 0 -> 1 over the first 1200 steps, so it
can rise while beta grows and then go below zero. Compiled step with the model
and optimizer state passed through inputs/outputs. JSON lines.
"""
import json
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

H = 16


def voice_pipes(n, rng):
    scale = rng.uniform(-1, 1, n)      # narrow (string) .. wide (flute)
    cutup = rng.uniform(-1, 1, n)
    wind = rng.uniform(-1, 1, n)
    k = np.arange(1, H + 1)[None, :]
    slope = 1.3 + 0.9 * scale[:, None] + 0.3 * cutup[:, None]
    logamp = -slope * np.log(k) - (0.15 - 0.12 * wind[:, None]) * (k - 1) ** 0.8
    logamp += 0.35 * cutup[:, None] * np.cos(np.pi * k / 2.0)   # odd/even balance
    logamp += rng.normal(0, 0.08, logamp.shape)
    return logamp.astype(np.float32)


class PipeVAE(nn.Module):
    def __init__(self, z=3, width=64):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(H, width), nn.GELU(), nn.Linear(width, width), nn.GELU())
        self.mu = nn.Linear(width, z)
        self.logvar = nn.Linear(width, z)
        self.dec = nn.Sequential(nn.Linear(z, width), nn.GELU(), nn.Linear(width, width), nn.GELU(),
                                 nn.Linear(width, H))
        self.log_sigma = mx.full((H,), 0.0)

    def __call__(self, x):
        h = self.enc(x)
        mu, lv = self.mu(h), mx.clip(self.logvar(h), -8.0, 6.0)
        z = mu + mx.exp(0.5 * lv) * mx.random.normal(mu.shape)
        return self.dec(z), mu, lv


def terms(model, x):
    xhat, mu, lv = model(x)
    ls = mx.clip(model.log_sigma, -5.0, 3.0)
    nll = (0.5 * ((x - xhat) / mx.exp(ls)) ** 2 + ls + 0.5 * math.log(2 * math.pi)).sum(-1)
    kl = 0.5 * (mx.exp(lv) + mu ** 2 - 1.0 - lv).sum(-1)
    return nll.mean(), kl.mean()


def objective(model, x, beta):
    nll, kl = terms(model, x)
    return nll + beta * kl, (nll, kl)


def main():
    t0 = time.time()
    rng = np.random.default_rng(3)
    train, val = voice_pipes(20000, rng), voice_pipes(2000, rng)
    mu_x, sd_x = train.mean(0), train.std(0)
    train, val = (train - mu_x) / sd_x, (val - mu_x) / sd_x
    # report in nats of the ORIGINAL log-amplitude scale: add the log-Jacobian
    jac = float(np.log(sd_x).sum())

    mx.random.seed(11)
    model = PipeVAE()
    opt = optim.Adam(learning_rate=2e-3)
    vg = nn.value_and_grad(model, objective)

    xb0 = mx.array(train[:128])
    (_, _), g0 = vg(model, xb0, mx.array(1.0))
    flat = tree_flatten(g0)
    nz = sum(1 for _, v in flat if float(mx.abs(v).max()) > 0)
    print(json.dumps({"event": "grad_check", "leaves": len(flat), "nonzero": nz}))

    state = [model.state, opt.state, mx.random.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, beta):
        (loss, (nll, kl)), g = vg(model, x, beta)
        opt.update(model, g)
        return loss, nll, kl

    total, warm, batch, every = 3000, 1200, 128, 250
    acc = np.zeros(3)
    for it in range(1, total + 1):
        beta = min(1.0, it / warm)
        idx = rng.integers(0, len(train), batch)
        loss, nll, kl = step(mx.array(train[idx]), mx.array(beta, dtype=mx.float32))
        mx.eval(loss, nll, kl, state)
        acc += (loss.item(), nll.item(), kl.item())
        if it % every == 0:
            vn, vk = terms(model, mx.array(val))
            vn, vk = vn.item(), vk.item()
            print(json.dumps({
                "step": it, "beta": round(beta, 3),
                "train_objective": round(acc[0] / every + jac, 3),
                "train_kl": round(acc[2] / every, 3),
                "val_neg_elbo_nats": round(vn + vk + jac, 3),
                "val_kl": round(vk, 3),
                "sigma_mean": round(float(mx.exp(model.log_sigma).mean().item() * sd_x.mean()), 4),
                "secs": round(time.time() - t0, 1)}))
            acc[:] = 0
    vn, vk = terms(model, mx.array(val))
    print(json.dumps({"event": "done", "val_neg_elbo_nats": round(vn.item() + vk.item() + jac, 3),
                      "noise_floor_sigma": 0.08}))


if __name__ == "__main__":
    main()
