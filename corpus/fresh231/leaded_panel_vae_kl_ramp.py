"""Beta-VAE on 8x8 leaded-glass panel layouts (which cells carry lead came).

Synthetic panels come from four glazier motifs (cross, diamond, border frame,
diagonal lattice), randomly shifted / mirrored, with a little cutting noise.
The KL weight is ramped 0 -> 1 (so the total objective climbs for a while
before settling) and the learning rate warms up from exactly zero.
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s glazier: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("glazier")

rng = np.random.default_rng(11)
mx.random.seed(11)
S = 8


def motif(kind):
    g = np.zeros((S, S), dtype=np.float32)
    if kind == 0:  # cross
        g[S // 2, :] = 1
        g[:, S // 2] = 1
    elif kind == 1:  # diamond
        for i in range(S):
            d = abs(i - 3.5)
            g[i, int(3.5 - (3.5 - d))] = 1
            g[i, int(3.5 + (3.5 - d))] = 1
    elif kind == 2:  # frame
        g[1, 1:7] = 1
        g[6, 1:7] = 1
        g[1:7, 1] = 1
        g[1:7, 6] = 1
    else:  # diagonal lattice
        for i in range(S):
            g[i, i] = 1
            g[i, (i + 4) % S] = 1
    return g


def make_panels(n):
    out = np.empty((n, S * S), dtype=np.float32)
    for k in range(n):
        g = motif(rng.integers(4))
        g = np.roll(g, rng.integers(-1, 2), axis=0)
        g = np.roll(g, rng.integers(-1, 2), axis=1)
        if rng.random() < 0.5:
            g = g[:, ::-1]
        flip = rng.random(g.shape) < 0.04
        g = np.where(flip, 1 - g, g)
        out[k] = g.reshape(-1)
    return out


train_x = make_panels(3000)
val_x = make_panels(500)
p_pix = train_x.mean(0).clip(1e-3, 1 - 1e-3)
indep_ref_bits = float(-(val_x * np.log2(p_pix) + (1 - val_x) * np.log2(1 - p_pix)).mean())


class PanelVAE(nn.Module):
    def __init__(self, d=S * S, h=128, z=6):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.GELU(), nn.Linear(h, h), nn.GELU())
        self.mu = nn.Linear(h, z)
        self.logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.GELU(), nn.Linear(h, h), nn.GELU(), nn.Linear(h, d))

    def __call__(self, x):
        e = self.enc(x)
        mu, lv = self.mu(e), mx.clip(self.logvar(e), -8.0, 6.0)
        zs = mu + mx.exp(0.5 * lv) * mx.random.normal(mu.shape)
        return self.dec(zs), mu, lv


def parts(model, x):
    logits, mu, lv = model(x)
    recon = nn.losses.binary_cross_entropy(logits, x, with_logits=True, reduction="none").sum(-1).mean()
    kl = (-0.5 * (1 + lv - mu * mu - mx.exp(lv))).sum(-1).mean()
    return recon, kl


def objective(model, x, beta):
    recon, kl = parts(model, x)
    return recon + beta * kl, (recon, kl)


model = PanelVAE()
mx.eval(model.parameters())

EPOCHS, BS = 24, 100
steps_per_epoch = len(train_x) // BS
warm = 60
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, warm),
     optim.cosine_decay(2e-3, EPOCHS * steps_per_epoch - warm, 2e-4)],
    [warm])
opt = optim.Adamax(learning_rate=sched)
vg = nn.value_and_grad(model, objective)


def beta_at(ep):
    # hold at 0 for 3 epochs, ramp linearly to 1.0 by epoch 15
    return float(min(1.0, max(0.0, (ep - 3) / 12)))


log.info("panels train=%d val=%d | independent-pixel reference %.3f bits/cell", len(train_x), len(val_x), indep_ref_bits)
t0 = time.time()
step = 0
for ep in range(EPOCHS):
    beta = beta_at(ep)
    perm = rng.permutation(len(train_x))
    tot = rec_sum = kl_sum = 0.0
    for b in range(steps_per_epoch):
        xb = mx.array(train_x[perm[b * BS:(b + 1) * BS]])
        lr_now = float(opt.learning_rate.item()) if step > 0 else 0.0
        (loss, (rec, kl)), grads = vg(model, xb, beta)
        if step == 0:
            norms = {k: float(mx.linalg.norm(v).item()) for k, v in tree_flatten(grads)}
            zero = [k for k, n in norms.items() if n == 0.0]
            log.info("audit step0 lr=%.1f grad-norm min %.3e max %.3e over %d tensors, zero-grad tensors: %s",
                     lr_now, min(norms.values()), max(norms.values()), len(norms), zero or "none")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, rec, kl)
        tot += loss.item()
        rec_sum += rec.item()
        kl_sum += kl.item()
        step += 1
    vr, vk = parts(model, mx.array(val_x))
    vr, vk = vr.item(), vk.item()
    bits = vr / (S * S) / math.log(2)
    log.info("ep %02d | lr %.2e | beta %.2f | objective %.2f | recon %.2f nats kl %.2f nats | val -elbo %.2f | val recon %.3f bits/cell (ref %.3f)",
             ep + 1, opt.learning_rate.item(), beta, tot / steps_per_epoch, rec_sum / steps_per_epoch,
             kl_sum / steps_per_epoch, vr + vk, bits, indep_ref_bits)

log.info("done in %.1fs: final val -elbo %.2f nats/panel, recon %.3f bits/cell vs %.3f independent-pixel",
         time.time() - t0, vr + vk, bits, indep_ref_bits)
