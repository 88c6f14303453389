# Pottery studio: spot defects in a thrown pot from the wheel-head vibration spectrum.
# Stage "pretrain": denoising autoencoder on unlabelled throws, input noise raised each phase.
# Stage "probe": encoder frozen on purpose, only a small head is trained on 480 labelled throws.
import logging
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s | %(message)s")
log = logging.getLogger("wheelshop")

rng = np.random.default_rng(2150)
BINS = 32
CLASSES = ["even_wall", "off_centre", "thin_spot", "s_crack"]
f = np.arange(BINS)


def throws(n, labelled=True):
    y = rng.integers(0, 4, n)
    base = 1.2 / (1 + 0.15 * f) + rng.normal(0, 0.05, (n, 1))
    amp = rng.uniform(0.2, 0.5, n)
    spec = np.repeat(base, 1, 0) * np.ones((n, BINS))
    spec += ((y == 1) * amp)[:, None] * np.exp(-0.5 * ((f - 3) / 1.0) ** 2)
    spec += ((y == 2) * amp)[:, None] * np.exp(-0.5 * ((f - 8) / 1.2) ** 2)
    spec += ((y == 3) * amp * 0.6)[:, None] * np.exp(-0.5 * ((f - 21) / 3.0) ** 2)
    spec += rng.normal(0, 0.12, (n, BINS))
    return spec.astype(np.float32), y


Xu, _ = throws(6000)
Xl, yl = throws(480)
Xv, yv = throws(1200)
mu, sd = Xu.mean(0), Xu.std(0) + 1e-6
Xu, Xl, Xv = [mx.array((a - mu) / sd) for a in (Xu, Xl, Xv)]
yl, yv = mx.array(yl), mx.array(yv)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(BINS, 64)
        self.b = nn.Linear(64, 8)

    def __call__(self, x):
        return self.b(nn.gelu(self.a(x)))


class DAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = Encoder()
        self.d1 = nn.Linear(8, 64)
        self.d2 = nn.Linear(64, BINS)

    def __call__(self, x):
        return self.d2(nn.gelu(self.d1(self.enc(x))))


mx.random.seed(2150)
dae = DAE()
mx.eval(dae.parameters())


def recon_loss(m, noisy, clean):
    return mx.mean((m(noisy) - clean) ** 2)


opt_a = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
grad_a = nn.value_and_grad(dae, recon_loss)
phases = [0.1, 0.4, 0.8]          # input corruption std, harder each phase
nu = Xu.shape[0]
for ph, sigma in enumerate(phases, 1):
    for it in range(1, 151):
        idx = mx.array(rng.integers(0, nu, 200))
        clean = Xu[idx]
        noisy = clean + sigma * mx.random.normal(clean.shape)
        loss, g = grad_a(dae, noisy, clean)
        opt_a.update(dae, g)
        mx.eval(loss, dae.parameters(), opt_a.state)
        if it % 50 == 0 or it == 1:
            vn = Xv + sigma * mx.random.normal(Xv.shape)
            vloss = recon_loss(dae, vn, Xv).item()
            log.info("pretrain phase=%d/%d it=%03d sigma=%.1f recon=%.4f val_recon=%.4f",
                     ph, len(phases), it, sigma, loss.item(), vloss)

# ---------------- probe stage ----------------
class Probe(nn.Module):
    def __init__(self, enc):
        super().__init__()
        self.enc = enc
        self.h = nn.Linear(8, 32)
        self.o = nn.Linear(32, 4)

    def __call__(self, x):
        return self.o(nn.relu(self.h(self.enc(x))))


probe = Probe(dae.enc)
probe.enc.freeze()                 # features stay as pretrained
enc_before = {k: mx.array(v) for k, v in tree_flatten(probe.enc.parameters())}
n_train = sum(v.size for _, v in tree_flatten(probe.trainable_parameters()))
log.info("probe: trainable=%d frozen=%d", n_train,
         sum(v.size for v in enc_before.values()))


def ce(m, x, y):
    return mx.mean(nn.losses.cross_entropy(m(x), y))


opt_b = optim.Adagrad(learning_rate=0.02)
grad_b = nn.value_and_grad(probe, ce)
chance = 100.0 / len(CLASSES)
for ep in range(1, 41):
    perm = mx.array(rng.permutation(480))
    tot = 0.0
    for s in range(0, 480, 48):
        idx = perm[s:s + 48]
        loss, g = grad_b(probe, Xl[idx], yl[idx])
        opt_b.update(probe, g)
        mx.eval(loss, probe.parameters(), opt_b.state)
        tot += loss.item()
    if ep % 5 == 0 or ep == 1:
        logits = probe(Xv)
        acc = 100.0 * mx.mean(mx.argmax(logits, -1) == yv).item()
        vce = ce(probe, Xv, yv).item()
        drift = math.sqrt(sum(mx.sum((v - enc_before[k]) ** 2).item()
                              for k, v in tree_flatten(probe.enc.parameters())))
        log.info("probe epoch=%02d ce=%.4f val_ce=%.4f val_acc=%.1f%% chance=%.1f%% enc_drift=%.2e",
                 ep, tot / 10, vce, acc, chance, drift)

pred = mx.argmax(probe(Xv), -1)
for c, name in enumerate(CLASSES):
    m = yv == c
    rec = 100.0 * (mx.sum((pred == c) & m) / mx.sum(m)).item()
    log.info("recall %-10s %.1f%%", name, rec)
