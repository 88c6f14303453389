# Pottery vase-profile VAE.
# Each profile = radius of a thrown vase at 20 heights (foot to rim), generated
# from a few latent "potter's choices" (belly height, belly width, neck, flare).
# Gaussian decoder with a learned per-height log-sigma, so the negative ELBO
# (nats per profile) goes below zero once reconstructions get good.
# KL weight is annealed 0 -> 1 over the first 6 epochs (beta warm-up): the
# objective being minimised changes during that phase (train_loss counts only
# beta * KL), so train_loss and the test -ELBO only agree once beta reaches 1.
from functools import partial
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

H = 20
Z = 3


def throw_vases(rng, n):
    h = np.linspace(0.0, 1.0, H)[None, :]
    belly_h = rng.uniform(0.3, 0.6, (n, 1))
    belly_w = rng.uniform(0.6, 1.2, (n, 1))
    neck = rng.uniform(0.2, 0.5, (n, 1))
    flare = rng.uniform(0.0, 0.4, (n, 1))
    r = 0.35 + belly_w * np.exp(-((h - belly_h) ** 2) / 0.04)
    r = r - (1 - neck) * 0.5 * np.clip((h - 0.7) / 0.3, 0, 1) + flare * np.clip((h - 0.85) / 0.15, 0, 1) ** 2
    r = r + rng.normal(0, 0.02, r.shape)
    return r.astype(np.float32)


class ProfileVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(H, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.mu = nn.Linear(64, Z)
        self.logvar = nn.Linear(64, Z)
        self.dec = nn.Sequential(nn.Linear(Z, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, H))
        self.log_sigma = mx.full((H,), -1.0)

    def __call__(self, x, eps):
        e = self.enc(x)
        mu, logvar = self.mu(e), mx.clip(self.logvar(e), -8.0, 4.0)
        z = mu + mx.exp(0.5 * logvar) * eps
        return self.dec(z), mu, logvar


def neg_elbo_terms(model, x, eps):
    recon, mu, logvar = model(x, eps)
    ls = model.log_sigma
    nll = 0.5 * ((x - recon) / mx.exp(ls)) ** 2 + ls + 0.5 * math.log(2 * math.pi)
    nll = nll.sum(axis=1).mean()
    kl = (-0.5 * (1 + logvar - mu ** 2 - mx.exp(logvar))).sum(axis=1).mean()
    return nll, kl


def loss_fn(model, x, eps, beta):
    nll, kl = neg_elbo_terms(model, x, eps)
    return nll + beta * kl, (nll, kl)


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    xtr = throw_vases(rng, 12000)
    xte = mx.array(throw_vases(rng, 2000))
    mean = xtr.mean(0)
    xtr = xtr - mean
    xte = xte - mx.array(mean)

    model = ProfileVAE()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=1e-3)
    vg = nn.value_and_grad(model, loss_fn)

    # gradient check with beta = 1 so the KL path is exercised too
    xb = mx.array(xtr[:128])
    (_, _), g = vg(model, xb, mx.random.normal((128, Z)), mx.array(1.0))
    leaves = tree_flatten(g)
    nz = sum(1 for _, v in leaves if mx.abs(v).max().item() > 0)
    print(f"gradient check: {nz} of {len(leaves)} leaves non-zero")

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, eps, beta):
        (loss, (nll, kl)), grads = vg(model, x, eps, beta)
        opt.update(model, grads)
        return loss, nll, kl

    def test_elbo():
        eps = mx.zeros((xte.shape[0], Z))
        nll, kl = neg_elbo_terms(model, xte, eps)
        mx.eval(nll, kl)
        return nll.item(), kl.item()

    nll0, kl0 = test_elbo()
    print(f"{'epoch':>5} {'beta':>5} {'train_loss':>11} {'train_nll':>10} {'train_kl':>9} "
          f"{'test_-elbo':>11} {'rmse_mm':>8}")
    print(f"{0:>5} {0.0:>5.2f} {'-':>11} {'-':>10} {'-':>9} {nll0 + kl0:>11.3f} {'-':>8}")
    bs = 100
    n = len(xtr)
    warm_epochs = 6
    for epoch in range(1, 19):
        beta = min(1.0, (epoch - 1) / warm_epochs)
        b = mx.array(beta)
        perm = rng.permutation(n)
        tot = [0.0, 0.0, 0.0]
        nb = 0
        for i in range(0, n - bs + 1, bs):
            x = mx.array(xtr[perm[i:i + bs]])
            loss, nll, kl = step(x, mx.random.normal((bs, Z)), b)
            mx.eval(state, loss, nll, kl)
            tot[0] += loss.item(); tot[1] += nll.item(); tot[2] += kl.item()
            nb += 1
        tnll, tkl = test_elbo()
        recon, _, _ = model(xte, mx.zeros((xte.shape[0], Z)))
        rmse = mx.sqrt(((recon - xte) ** 2).mean()).item() * 100.0  # profiles in dm -> mm
        print(f"{epoch:>5} {beta:>5.2f} {tot[0]/nb:>11.3f} {tot[1]/nb:>10.3f} {tot[2]/nb:>9.3f} "
              f"{tnll + tkl:>11.3f} {rmse:>8.2f}")
    print(f"noise floor of the decoder: {H * (0.5 + math.log(0.02) + 0.5 * math.log(2 * math.pi)):.2f} nats")
    print(f"learned sigma (mean over heights): {mx.exp(model.log_sigma).mean().item():.4f}")
    print(f"finished in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
