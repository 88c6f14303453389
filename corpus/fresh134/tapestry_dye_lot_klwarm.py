"""Tapestry studio: compress colorimeter readings of hand-dyed wool lots with a small VAE.

Each dye lot is measured on 8 channels (L*, a*, b*, chroma, hue angle proxy, gloss,
fastness score, reflectance at 460 nm). They are driven by two hidden factors:
dye-bath concentration and mordant strength.  We learn a 2-d latent code.

KL weight (beta) is warmed up from 0 -> 1 over the first 16 epochs, and the learning
rate warms up from exactly 0.  The objective therefore goes UP while beta grows.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(134)

N_TRAIN, N_VAL, D, Z = 2400, 600, 8, 2


def make_lots(n, key):
    k1, k2, k3 = mx.random.split(key, 3)
    conc = mx.random.uniform(0.0, 1.0, (n, 1), key=k1)
    mord = mx.random.uniform(0.0, 1.0, (n, 1), key=k2)
    L = 80.0 - 45.0 * conc - 8.0 * mord
    a = 30.0 * conc * (1.0 - 0.5 * mord)
    b = -12.0 + 25.0 * mord * conc
    chroma = mx.sqrt(a * a + b * b)
    hue = mx.arctan2(b, a + 1e-3)
    gloss = 12.0 + 6.0 * mord - 3.0 * conc
    fast = 2.0 + 3.0 * mx.sqrt(mord * conc + 0.01)
    r460 = 0.6 * mx.exp(-2.5 * conc) + 0.1 * mord
    X = mx.concatenate([L, a, b, chroma, hue, gloss, fast, r460], axis=1)
    X = X + 0.02 * mx.std(X, axis=0) * mx.random.normal(X.shape, key=k3)
    return X


kx = mx.random.key(7)
ktr, kva = mx.random.split(kx)
Xtr_raw, Xva_raw = make_lots(N_TRAIN, ktr), make_lots(N_VAL, kva)
mu_, sd_ = Xtr_raw.mean(0), Xtr_raw.std(0) + 1e-6
Xtr, Xva = (Xtr_raw - mu_) / sd_, (Xva_raw - mu_) / sd_


class LotVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(D, 48), nn.GELU(), nn.Linear(48, 48), nn.GELU())
        self.to_mu = nn.Linear(48, Z)
        self.to_logvar = nn.Linear(48, Z)
        self.dec = nn.Sequential(nn.Linear(Z, 48), nn.GELU(), nn.Linear(48, 48), nn.GELU(), nn.Linear(48, D))

    def __call__(self, x, key):
        h = self.enc(x)
        m, lv = self.to_mu(h), self.to_logvar(h)
        z = m + mx.exp(0.5 * lv) * mx.random.normal(m.shape, key=key)
        return self.dec(z), m, lv


def terms(model, x, key):
    xh, m, lv = model(x, key)
    recon = ((xh - x) ** 2).sum(axis=1).mean()
    kl = (-0.5 * (1.0 + lv - m * m - mx.exp(lv)).sum(axis=1)).mean()
    return recon, kl


def objective(model, x, key, beta):
    recon, kl = terms(model, x, key)
    return recon + beta * kl, (recon, kl)


model = LotVAE()
mx.eval(model.parameters())

EPOCHS, BATCH = 40, 120
steps_per_epoch = N_TRAIN // BATCH
total = EPOCHS * steps_per_epoch
warm = 60
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 2e-4)], [warm]
)
opt = optim.Adamax(learning_rate=sched)
vg = nn.value_and_grad(model, objective)

base_recon = float((Xva ** 2).sum(axis=1).mean())  # predicting the per-channel mean

print(f"lots: train={N_TRAIN} val={N_VAL} channels={D} latent={Z}")
print("+-----+-----------+------+--------+-------+---------+----------+")
print("|  ep |        lr | beta |  recon |    kl |  -elbo  | mean-ref |")
print("+-----+-----------+------+--------+-------+---------+----------+")
t0 = time.time()
key = mx.random.key(99)
step = 0
for ep in range(1, EPOCHS + 1):
    beta = min(1.0, (ep - 1) / 16.0)
    key, pk = mx.random.split(key)
    perm = mx.random.permutation(N_TRAIN, key=pk)
    for i in range(steps_per_epoch):
        idx = perm[i * BATCH:(i + 1) * BATCH]
        key, sk = mx.random.split(key)
        (loss, _), grads = vg(model, Xtr[idx], sk, beta)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
    if ep == 1 or ep % 4 == 0:
        key, ek = mx.random.split(key)
        r, k = terms(model, Xva, ek)
        mx.eval(r, k)
        lr_now = float(opt.learning_rate)
        print(f"| {ep:3d} | {lr_now:9.2e} | {beta:4.2f} | {r.item():6.3f} | {k.item():5.2f} | "
              f"{r.item() + beta * k.item():7.3f} | {base_recon:8.3f} |")
print("+-----+-----------+------+--------+-------+---------+----------+")

# audit: every trainable tensor receives gradient at the final beta
(_, _), g = vg(model, Xtr[:240], mx.random.key(3), 1.0)
norms = {k: float(mx.linalg.norm(v.reshape(-1))) for k, v in tree_flatten(g)}
dead = [k for k, v in norms.items() if v == 0.0]
print(f"audit grad-norms: min={min(norms.values()):.3e} max={max(norms.values()):.3e} "
      f"tensors={len(norms)} zero={len(dead)}")
r, k = terms(model, Xva, mx.random.key(5))
print(f"final val recon {r.item():.3f} (mean-ref {base_recon:.3f}), kl {k.item():.2f} nats, "
      f"steps {step}, {time.time() - t0:.1f}s")
