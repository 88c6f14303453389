# Tide-gauge residual VAE: 8 harbour gauges' storm-surge residuals (m) driven by 2 hidden
# weather factors. Gaussian decoder with learned per-gauge noise, so -ELBO can go negative.
# KL weight (beta) annealed 0 -> 1 over the first 6 epochs: the loss rises while beta grows.
import logging, sys, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(stream=sys.stdout, level=logging.INFO)
log = logging.getLogger("tidevae")

rng = np.random.default_rng(3)
D, Z = 8, 2
W = rng.normal(0, 0.25, (Z, D)).astype(np.float32)
def make(n):
    z = rng.normal(size=(n, Z)).astype(np.float32)
    x = np.tanh(z) @ W + 0.1 * z[:, :1] ** 2 + rng.normal(0, 0.03, (n, D))
    return x.astype(np.float32)
Xtr, Xva = make(8000), make(1500)

class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(D, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.mu = nn.Linear(64, Z)
        self.logvar = nn.Linear(64, Z)
        self.dec = nn.Sequential(nn.Linear(Z, 64), nn.SiLU(), nn.Linear(64, D))
        self.log_sigma = mx.full((D,), -1.0)       # per-gauge decoder noise (log m)
    def __call__(self, x):
        h = self.enc(x)
        mu, lv = self.mu(h), mx.clip(self.logvar(h), -8.0, 4.0)
        z = mu + mx.exp(0.5 * lv) * mx.random.normal(mu.shape)
        return self.dec(z), mu, lv

LOG2PI = float(np.log(2 * np.pi))
def terms(model, x):
    xh, mu, lv = model(x)
    ls = model.log_sigma
    nll = (0.5 * ((x - xh) / mx.exp(ls)) ** 2 + ls + 0.5 * LOG2PI).sum(axis=1).mean()
    kl = (0.5 * (mx.exp(lv) + mu ** 2 - 1.0 - lv)).sum(axis=1).mean()
    return nll, kl

def loss_fn(model, x, beta):
    nll, kl = terms(model, x)
    return nll + beta * kl, (nll, kl)

model = VAE()
opt = optim.Adam(learning_rate=2e-3)
vg = nn.value_and_grad(model, loss_fn)

def evaluate():
    nll, kl = terms(model, mx.array(Xva))
    return nll.item(), kl.item()

EPOCHS, BS, WARM = 20, 100, 6
n0, k0 = evaluate()
log.info("data: %d train / %d valid windows, %d gauges, %d latent factors", len(Xtr), len(Xva), D, Z)
log.info("epoch 0: valid -ELBO %.3f nats (recon %.3f + KL %.3f)", n0 + k0, n0, k0)
t0, step = time.time(), 0
for ep in range(1, EPOCHS + 1):
    perm = rng.permutation(len(Xtr))
    tot, cnt = 0.0, 0
    for i in range(0, len(Xtr), BS):
        beta = min(1.0, step / (WARM * len(Xtr) // BS))
        (loss, (nll, kl)), grads = vg(model, mx.array(Xtr[perm[i:i + BS]]), mx.array(beta))
        if step == 0:
            flat = tree_flatten(grads)
            zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
            log.info("first step: beta %.2f, %d gradient leaves, zero %s", beta, len(flat), zero)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item(); cnt += 1; step += 1
    vn, vk = evaluate()
    log.info("epoch %d: beta %.2f train loss %.3f | valid -ELBO %.3f (recon %.3f + KL %.3f) | %.1fs",
             ep, beta, tot / cnt, vn + vk, vn, vk, time.time() - t0)
log.info("decoder noise per gauge (m): %s", [round(float(v), 3) for v in np.exp(np.array(model.log_sigma))])
