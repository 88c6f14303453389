# Cigar-humidor climate logs (24 h of humidity + temperature, 48 values) compressed by a
# small VAE.  Cyclical KL annealing (beta 0 -> 1 within each cycle), hand-written RMSprop.
import logging
import sys
import time

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)-5s humidor-vae | %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("humidor")

mx.random.seed(5)
H = 24
N = 2304
t = mx.arange(H).astype(mx.float32) / H


def make_profiles(n):
    phase = mx.random.uniform(0, 6.283, (n, 1))
    amp = mx.random.uniform(0.5, 2.0, (n, 1))
    rh0 = mx.random.uniform(62.0, 74.0, (n, 1))          # % relative humidity
    temp0 = mx.random.uniform(16.0, 22.0, (n, 1))         # deg C
    turn = (mx.random.uniform(0, 1, (n, 1)) > 0.5).astype(mx.float32)  # lid opened at noon?
    rh = rh0 + amp * mx.sin(6.283 * t + phase) - 1.5 * turn * (t > 0.5)
    tc = temp0 + 0.4 * amp * mx.cos(6.283 * t + phase) + 0.3 * turn * (t > 0.5)
    x = mx.concatenate([(rh - 68.0) / 4.0, (tc - 19.0) / 2.0], axis=1)
    return x + 0.03 * mx.random.normal(x.shape)


xtr, xva = make_profiles(N), make_profiles(384)


class VAE(nn.Module):
    def __init__(self, d=2 * H, h=64, z=4):
        super().__init__()
        self.enc = nn.Linear(d, h)
        self.mu = nn.Linear(h, z)
        self.logvar = nn.Linear(h, z)
        self.dec1 = nn.Linear(z, h)
        self.dec2 = nn.Linear(h, d)

    def __call__(self, x):
        hdn = nn.gelu(self.enc(x))
        mu, lv = self.mu(hdn), self.logvar(hdn)
        zs = mu + mx.exp(0.5 * lv) * mx.random.normal(mu.shape)
        return self.dec2(nn.gelu(self.dec1(zs))), mu, lv


def terms(model, x):
    xr, mu, lv = model(x)
    recon = ((xr - x) ** 2).sum(axis=1).mean()
    kl = (-0.5 * (1 + lv - mu ** 2 - mx.exp(lv)).sum(axis=1)).mean()
    return recon, kl


def objective(model, x, beta):
    recon, kl = terms(model, x)
    return recon + beta * kl, (recon, kl)


model = VAE()
mx.eval(model.parameters())
vg = nn.value_and_grad(model, objective)

LR, RHO, EPS = 2e-3, 0.9, 1e-8
sq = tree_map(mx.zeros_like, model.trainable_parameters())

CYCLES, EPOCHS, B = 4, 10, 64
STEPS = N // B

(_, _), g = vg(model, xtr[:B], mx.array(0.5))
dead = [k for k, v in tree_flatten(g) if mx.abs(v).max().item() == 0.0]
log.info("params=%d  zero-grad tensors=%s", sum(v.size for _, v in tree_flatten(model.parameters())), dead or "none")

for cyc in range(1, CYCLES + 1):
    for ep in range(1, EPOCHS + 1):
        beta_val = min(1.0, (ep - 1) / (EPOCHS * 0.5))      # ramp over first half of the cycle
        beta = mx.array(beta_val)
        perm = mx.random.permutation(N)
        t0, r_sum, k_sum = time.perf_counter(), 0.0, 0.0
        for s in range(STEPS):
            xb = xtr[perm[s * B:(s + 1) * B]]
            (loss, (recon, kl)), grads = vg(model, xb, beta)
            sq = tree_map(lambda a, gg: RHO * a + (1 - RHO) * gg * gg, sq, grads)
            new = tree_map(lambda p, gg, a: p - LR * gg / (mx.sqrt(a) + EPS),
                           model.trainable_parameters(), grads, sq)
            model.update(new)
            mx.eval(model.parameters(), sq, loss, recon, kl)
            r_sum += recon.item()
            k_sum += kl.item()
        bar = "#" * 20
        print(f"cycle {cyc} ep {ep:2d}/{EPOCHS} |{bar}| {STEPS}/{STEPS} "
              f"[{time.perf_counter() - t0:.2f}s, beta={beta_val:.2f}, recon={r_sum / STEPS:.3f}, "
              f"kl={k_sum / STEPS:.3f}, loss={(r_sum + beta_val * k_sum) / STEPS:.3f}]", flush=True)
    vr, vk = terms(model, xva)
    gn = mx.sqrt(sum((v ** 2).sum() for _, v in tree_flatten(grads))).item()
    log.info("cycle %d done: val recon %.4f (all-zeros recon %.4f)  val KL %.3f nats  ELBO %.3f  |grad| %.3e",
             cyc, vr.item(), (xva ** 2).sum(axis=1).mean().item(), vk.item(), -(vr + vk).item(), gn)
