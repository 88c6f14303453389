# VAE over synthetic church-bell partial spectra (hum, prime, tierce, quint, nominal ...).
# Two hidden causes per bell: size (shifts every partial) and tin fraction
# (brightens the upper partials).  The KL weight beta is annealed 0 -> 1 over the
# first epochs, so the printed total loss climbs while the reconstruction falls.
# Learning rate warms up from exactly 0.  Early stopping watches the full ELBO
# (beta = 1) on held-out bells and restores the best weights at the end.
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s foundry: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("foundry")

N_PART = 16
RATIOS = np.array([0.5, 1.0, 1.2, 1.5, 2.0, 2.5, 2.67, 3.0, 3.3, 4.0, 4.5, 5.0, 5.4, 6.0, 6.5, 7.0])


def make_bells(rng, n):
    size = rng.uniform(-1, 1, n)
    tin = rng.uniform(-1, 1, n)
    amp = np.exp(-RATIOS[None, :] * (0.45 - 0.2 * tin[:, None]))
    shift = np.sin(RATIOS[None, :] * (1.0 + 0.6 * size[:, None]))
    x = 2.0 * amp + 0.5 * shift + 0.05 * rng.standard_normal((n, N_PART))
    return x.astype(np.float32)


class BellVAE(nn.Module):
    def __init__(self, latent=2, hidden=48):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(N_PART, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU())
        self.mu = nn.Linear(hidden, latent)
        self.logvar = nn.Linear(hidden, latent)
        self.dec = nn.Sequential(nn.Linear(latent, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, N_PART))

    def __call__(self, x, eps):
        h = self.enc(x)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + mx.exp(0.5 * logvar) * eps
        return self.dec(z), mu, logvar


def parts(model, x, eps):
    xr, mu, logvar = model(x, eps)
    rec = mx.sum(mx.square(xr - x), axis=-1).mean()
    kl = (-0.5 * mx.sum(1 + logvar - mx.square(mu) - mx.exp(logvar), axis=-1)).mean()
    return rec, kl


def objective(model, x, eps, beta):
    rec, kl = parts(model, x, eps)
    return rec + beta * kl, (rec, kl)


def main():
    mx.random.seed(11)
    rng = np.random.default_rng(11)
    xtr = make_bells(rng, 4096)
    xva = make_bells(rng, 1024)
    mean, std = xtr.mean(0), xtr.std(0) + 1e-6
    xtr = mx.array((xtr - mean) / std)
    xva = mx.array((xva - mean) / std)

    model = BellVAE()
    mx.eval(model.parameters())
    batch, epochs = 128, 40
    steps_per_epoch = xtr.shape[0] // batch
    warm = 2 * steps_per_epoch
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm),
         optim.cosine_decay(3e-3, (epochs - 2) * steps_per_epoch, 1e-4)], [warm])
    opt = optim.Adamax(learning_rate=sched)
    vg = nn.value_and_grad(model, objective)

    anneal_epochs = 12
    best, best_epoch, wait, patience = math.inf, -1, 0, 6
    best_params = None
    for ep in range(epochs):
        beta = min(1.0, ep / anneal_epochs)
        perm = mx.array(rng.permutation(xtr.shape[0]))
        tot = rec_s = kl_s = 0.0
        lr_start = opt.learning_rate.item()
        for b in range(steps_per_epoch):
            xb = xtr[perm[b * batch:(b + 1) * batch]]
            eps = mx.random.normal((xb.shape[0], 2))
            (loss, (rec, kl)), g = vg(model, xb, eps, beta)
            opt.update(model, g)
            mx.eval(loss, rec, kl, model.parameters(), opt.state)
            tot += loss.item(); rec_s += rec.item(); kl_s += kl.item()
        n = steps_per_epoch
        vrec, vkl = parts(model, xva, mx.random.normal((xva.shape[0], 2)))
        elbo = (vrec + vkl).item()
        flag = ""
        if elbo < best - 1e-3:
            best, best_epoch, wait = elbo, ep, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_params)
            flag = " *"
        else:
            wait += 1
        log.info("ep %02d lr %.2e->%.2e beta %.2f | loss %.3f = rec %.3f + %.2f*kl %.3f | val -ELBO %.3f (best %.3f @%d)%s",
                 ep, lr_start, opt.learning_rate.item(), beta, tot / n, rec_s / n, beta, kl_s / n, elbo, best,
                 best_epoch, flag)
        if wait >= patience and beta >= 1.0:
            log.info("no val improvement for %d epochs, stopping at ep %d", patience, ep)
            break

    model.update(best_params)
    vrec, vkl = parts(model, xva, mx.zeros((xva.shape[0], 2)))
    mx.eval(vrec, vkl)
    nparam = sum(v.size for _, v in tree_flatten(model.parameters()))
    log.info("restored ep %d weights | val rec(z=mu) %.3f kl %.3f (sum %.3f) | zero-output baseline rec %.1f | %d params",
             best_epoch, vrec.item(), vkl.item(), vrec.item() + vkl.item(), float(N_PART), nparam)


if __name__ == "__main__":
    main()
