# Canal lock-keeper's logger: water-level curves while a lock chamber fills.
# A small VAE learns a 3-d latent of the 24-sample fill curve.
# KL weight (beta) is annealed 0 -> 1, so the total loss climbs during warm-up;
# early stopping (only once beta == 1) restores the best weights at the end.
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s lockvae | %(message)s")
log = logging.getLogger("lockvae")

mx.random.seed(11)
T = 24


def fill_curves(n, key):
    k = mx.random.split(key, 5)
    head = mx.random.uniform(1.2, 3.5, (n, 1), key=k[0])          # metres to rise
    rate = mx.random.uniform(0.10, 0.45, (n, 1), key=k[1])        # paddle opening
    delay = mx.random.uniform(0.0, 5.0, (n, 1), key=k[2])         # minutes before paddles open
    t = mx.arange(T, dtype=mx.float32)[None, :]
    tt = mx.maximum(t - delay, 0.0)
    level = head * (1.0 - mx.exp(-rate * tt))
    surge = 0.06 * head * mx.sin(0.9 * tt) * mx.exp(-0.25 * tt) * (tt > 0)
    return level + surge + 0.02 * mx.random.normal((n, T), key=k[3])


train = fill_curves(1600, mx.random.key(3))
val = fill_curves(400, mx.random.key(4))
scale = train.std().item()
train, val = train / scale, val / scale


class LockVAE(nn.Module):
    def __init__(self, z=3, h=64):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(T, h), nn.GELU(), nn.Linear(h, h), nn.GELU())
        self.mu = nn.Linear(h, z)
        self.logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.GELU(), nn.Linear(h, h), nn.GELU(), nn.Linear(h, T))

    def __call__(self, x, key):
        h = self.enc(x)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape, key=key)
        return self.dec(z), mu, logvar


def terms(model, x, key):
    xh, mu, logvar = model(x, key)
    recon = mx.sum((xh - x) ** 2, axis=1).mean()
    kl = (-0.5 * mx.sum(1 + logvar - mu ** 2 - mx.exp(logvar), axis=1)).mean()
    return recon, kl


def objective(model, x, key, beta):
    recon, kl = terms(model, x, key)
    return recon + beta * kl, (recon, kl)


model = LockVAE()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
step_fn = nn.value_and_grad(model, objective)

EPOCHS, BATCH, ANNEAL_EPOCHS, PATIENCE = 60, 50, 20, 8
best, best_ep, waited, best_params = math.inf, -1, 0, None
key = mx.random.key(99)

for ep in range(1, EPOCHS + 1):
    beta = min(1.0, (ep - 1) / ANNEAL_EPOCHS)
    perm = mx.random.permutation(train.shape[0])
    sums = [0.0, 0.0, 0.0]
    nb = 0
    for i in range(0, train.shape[0], BATCH):
        key, sub = mx.random.split(key)
        xb = train[perm[i:i + BATCH]]
        (loss, (rec, kl)), grads = step_fn(model, xb, sub, beta)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, rec, kl)
        sums[0] += loss.item(); sums[1] += rec.item(); sums[2] += kl.item()
        nb += 1
    key, vk = mx.random.split(key)
    vrec, vkl = terms(model, val, vk)
    velbo = (vrec + vkl).item()
    log.info("ep=%02d beta=%.2f loss=%.3f recon=%.3f kl=%.3f | val -elbo=%.3f (recon %.3f + kl %.3f) rmse=%.1fcm",
             ep, beta, sums[0] / nb, sums[1] / nb, sums[2] / nb, velbo, vrec.item(), vkl.item(),
             100 * scale * math.sqrt(vrec.item() / T))
    if beta < 1.0:
        continue
    if velbo < best - 1e-3:
        best, best_ep, waited = velbo, ep, 0
        best_params = tree_map(lambda a: mx.array(a), model.parameters())
        mx.eval(best_params)
    else:
        waited += 1
        if waited >= PATIENCE:
            log.info("no val improvement for %d epochs, stopping at ep %d", PATIENCE, ep)
            break

model.update(best_params)
key, vk = mx.random.split(key)
vrec, vkl = terms(model, val, vk)
log.info("restored ep %d weights: val -elbo=%.3f (best seen %.3f)", best_ep, (vrec + vkl).item(), best)
# prior samples should look like fill curves: start near 0, end near the head
zs = mx.random.normal((5, 3), key=mx.random.key(5))
curves = model.dec(zs) * scale
for c in curves.tolist():
    log.info("sample curve m: start %.2f  mid %.2f  end %.2f", c[0], c[T // 2], c[-1])
