"""Water mill wheel: daily rpm profiles (48 half-hour readings) compressed by a VAE.

Cyclical KL annealing (beta goes 0 -> 1 over half of each cycle, then holds), the
epoch counter restarts in each cycle.  Adam with a constant rate.  Progress is
written through `logging` as bar-like lines.
"""
import logging
import math
import sys

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)s %(name)s | %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("millrace")

mx.random.seed(1512)
T = 48
t = mx.arange(T) / T


def mill_days(n):
    # flow level, sluice opening hour, closing hour, stoppage, grain-load dips
    flow = mx.random.uniform(0.6, 1.4, (n, 1))
    open_h = mx.random.uniform(0.15, 0.35, (n, 1))
    close_h = mx.random.uniform(0.65, 0.9, (n, 1))
    ramp = mx.sigmoid((t[None] - open_h) * 40) * mx.sigmoid((close_h - t[None]) * 40)
    stop_at = mx.random.uniform(0.35, 0.6, (n, 1))
    has_stop = (mx.random.uniform(shape=(n, 1)) < 0.4).astype(mx.float32)
    stop = 1.0 - has_stop * mx.exp(-((t[None] - stop_at) ** 2) / 0.0015)
    load = 1.0 - 0.12 * (0.5 + 0.5 * mx.sin(2 * math.pi * 6 * t[None] + mx.random.uniform(0, 6.28, (n, 1))))
    rpm = 9.0 * flow * ramp * stop * load + 0.3 * mx.random.normal((n, T))
    return rpm


x_tr = mill_days(3000)
x_va = mill_days(600)
scale = 2.0
x_tr, x_va = x_tr / scale, x_va / scale


class MillVAE(nn.Module):
    def __init__(self, d=T, h=96, z=4):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.GELU(), nn.Linear(h, h), nn.GELU())
        self.mu = nn.Linear(h, z)
        self.logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.GELU(), nn.Linear(h, h), nn.GELU(), nn.Linear(h, d))

    def __call__(self, x):
        hid = self.enc(x)
        mu, lv = self.mu(hid), self.logvar(hid)
        z = mu + mx.exp(0.5 * lv) * mx.random.normal(mu.shape)
        return self.dec(z), mu, lv


def terms(model, x):
    xr, mu, lv = model(x)
    recon = mx.sum((xr - x) ** 2, axis=1).mean()                 # squared error, sum over the day
    kl = (-0.5 * mx.sum(1 + lv - mu ** 2 - mx.exp(lv), axis=1)).mean()  # nats per day
    return recon, kl


def objective(model, x, beta):
    recon, kl = terms(model, x)
    return recon + beta * kl, (recon, kl)


model = MillVAE()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=2e-3)
vg = nn.value_and_grad(model, lambda m, x, b: objective(m, x, b)[0])

_, g = vg(model, x_tr[:200], mx.array(1.0))
zero = [k for k, v in tree_flatten(g) if float(mx.abs(v).sum()) == 0.0]
log.info("gradient check over %d tensors: %s", len(tree_flatten(g)), "all non-zero" if not zero else zero)

CYCLES, EPOCHS_PER_CYCLE, B = 3, 12, 100
nb = x_tr.shape[0] // B
flat_ref = mx.sum((x_va - x_va.mean(0)) ** 2, axis=1).mean().item()   # mean-day reconstruction
for c in range(CYCLES):
    for e in range(EPOCHS_PER_CYCLE):
        beta = min(1.0, e / (EPOCHS_PER_CYCLE / 2))
        perm = mx.random.permutation(x_tr.shape[0])
        tot = rec = kls = 0.0
        for i in range(nb):
            xb = x_tr[perm[i * B:(i + 1) * B]]
            (loss), grads = vg(model, xb, mx.array(beta))
            opt.update(model, grads)
            mx.eval(loss, model.parameters(), opt.state)
            tot += loss.item()
        r, k = terms(model, x_va)
        mx.eval(r, k)
        done = int(10 * (e + 1) / EPOCHS_PER_CYCLE)
        bar = "#" * done + "-" * (10 - done)
        log.info("cycle %d/%d |%s| %3d%% ep %d/%d beta=%.2f loss=%.3f val_recon=%.3f val_kl=%.2f nats",
                 c + 1, CYCLES, bar, 100 * (e + 1) // EPOCHS_PER_CYCLE, e + 1, EPOCHS_PER_CYCLE,
                 beta, tot / nb, r.item(), k.item())

r, k = terms(model, x_va)
prior_dec = model.dec(mx.zeros((1, 4)))
mx.eval(r, k, prior_dec)
rmse_rpm = math.sqrt(r.item() / T) * scale
log.info("summary: val_recon=%.3f (mean-day reference %.3f), val_kl=%.2f nats, rpm RMSE=%.2f, elbo=%.3f",
         r.item(), flat_ref, k.item(), rmse_rpm, -(r.item() + k.item()))
