"""Variational autoencoder for 24-hour barograph traces.

Each trace is 48 half-hourly pressure readings (hPa, station mean removed):
a front passage (smooth step up or down at a random hour), the twice-daily
atmospheric tide, a slow drift and instrument noise.  The KL weight is warmed
up from 0 to 1, and the learning rate starts from exactly 0, so the total loss
goes UP for a while before it settles.  Reported with the logging module.
"""
import logging
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO,
                    format="%(asctime)s %(levelname)s %(name)s | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("barograph")

T = 48
LATENT = 4
STEPS = 900
WARM_LR = 60
KL_WARM = 500
BATCH = 64


def traces(n, key):
    ks = mx.random.split(key, 6)
    t = mx.arange(T).astype(mx.float32)[None, :] / 2.0  # hours
    hour = mx.random.uniform(3, 21, (n, 1), key=ks[0])
    jump = mx.random.normal((n, 1), key=ks[1]) * 6.0       # hPa
    width = mx.random.uniform(1.0, 4.0, (n, 1), key=ks[2])
    front = jump * mx.tanh((t - hour) / width)
    tide = 1.1 * mx.cos(2 * math.pi * (t - 10.0) / 12.0)
    drift = mx.random.normal((n, 1), key=ks[3]) * 0.08 * (t - 12.0)
    noise = 0.35 * mx.random.normal((n, T), key=ks[4])
    return front + tide + drift + noise


class TraceVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(T, 128), nn.SiLU(), nn.Linear(128, 64), nn.SiLU())
        self.mu = nn.Linear(64, LATENT)
        self.logvar = nn.Linear(64, LATENT)
        self.dec = nn.Sequential(nn.Linear(LATENT, 64), nn.SiLU(), nn.Linear(64, 128),
                                 nn.SiLU(), nn.Linear(128, T))

    def __call__(self, x, eps):
        h = self.enc(x)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + mx.exp(0.5 * logvar) * eps
        return self.dec(z), mu, logvar


def terms(model, x, eps):
    xhat, mu, logvar = model(x, eps)
    recon = mx.mean(mx.sum(mx.square(xhat - x), axis=1)) / T   # hPa^2 per reading
    kl = mx.mean(-0.5 * mx.sum(1 + logvar - mx.square(mu) - mx.exp(logvar), axis=1))
    return recon, kl


def objective(model, x, eps, beta):
    recon, kl = terms(model, x, eps)
    # Gaussian likelihood with sigma^2 = 0.5 hPa^2 -> recon/(2*sigma^2) per reading
    return recon * T + beta * kl, (recon, kl)


def main():
    mx.random.seed(31)
    train = traces(4096, mx.random.key(1))
    valid = traces(512, mx.random.key(2))
    scale = 4.0
    train, valid = train / scale, valid / scale

    model = TraceVAE()
    lr = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, WARM_LR),
                               optim.cosine_decay(2e-3, STEPS - WARM_LR, 1e-5)],
                              [WARM_LR])
    opt = optim.AdamW(learning_rate=lr, weight_decay=1e-4)
    vg = nn.value_and_grad(model, objective)

    base = mx.mean(mx.square(valid - mx.mean(train, axis=0))).item() * scale ** 2
    n_par = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    log.info("traces train=%d valid=%d  params=%d  mean-trace baseline mse %.3f hPa^2",
             train.shape[0], valid.shape[0], n_par, base)

    t0 = time.time()
    for step in range(1, STEPS + 1):
        beta = min(1.0, (step - 1) / KL_WARM)
        idx = mx.random.randint(0, train.shape[0], (BATCH,))
        xb = train[idx]
        eps = mx.random.normal((BATCH, LATENT))
        cur_lr = opt.learning_rate.item()
        (loss, (recon, kl)), grads = vg(model, xb, eps, mx.array(beta))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, recon, kl)
        if step == 1:
            gn = math.sqrt(sum((g * g).sum().item() for _, g in tree_flatten(grads)))
            log.info("audit step 1: lr used %.1e (warm-up starts at zero), grad norm %.3f, loss %.3f recon %.3f hPa^2 kl %.3f nats",
                     cur_lr, gn, loss.item(), recon.item() * scale ** 2, kl.item())
        if step % 75 == 0 or step == STEPS:
            veps = mx.random.normal((valid.shape[0], LATENT))
            vr, vk = terms(model, valid, veps)
            vr = vr.item() * scale ** 2
            log.info("step %04d/%d lr %.2e beta %.3f | loss %.3f recon %.3f hPa^2 kl %.3f nats | "
                     "valid recon %.3f hPa^2 (baseline %.3f) kl %.3f",
                     step, STEPS, cur_lr, beta, loss.item(), recon.item() * scale ** 2,
                     kl.item(), vr, base, vk.item())
    log.info("done in %.1fs", time.time() - t0)


if __name__ == "__main__":
    main()
