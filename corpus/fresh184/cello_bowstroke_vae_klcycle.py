"""Cello bow-stroke latent model.

A small VAE over 32-sample bow-force traces recorded by a sensor bow (synthetic:
detache, legato, spiccato and martele strokes with random speed/pressure/jitter).
Cyclical KL annealing: beta climbs 0 -> 1 over the first half of each 150-step
cycle, so the total objective rises while beta ramps.  Step is mx.compile'd with
the model and optimizer state captured.  Progress goes through `logging`.
"""
import logging
import math
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s bowvae: %(message)s")
log = logging.getLogger("bowvae")

mx.random.seed(5)
T = 32


def strokes(n, key):
    ks = mx.random.split(key, 5)
    kind = mx.random.randint(0, 4, (n,), key=ks[0])
    t = mx.linspace(0, 1, T)[None, :]
    amp = mx.random.uniform(0.6, 1.4, (n, 1), key=ks[1])
    rate = mx.random.uniform(0.8, 1.3, (n, 1), key=ks[2])
    detache = amp * mx.sqrt(mx.abs(mx.sin(math.pi * t)))
    legato = amp * (0.8 + 0.2 * mx.cos(2 * math.pi * rate * t))
    spiccato = amp * mx.abs(mx.sin(4 * math.pi * rate * t))
    martele = amp * mx.exp(-6 * t * rate) + 0.15
    stack = mx.stack([detache, legato, spiccato, martele], axis=0)   # (4, n, T)
    x = mx.take_along_axis(stack, kind[None, :, None], axis=0)[0]
    x = x + 0.05 * mx.random.normal((n, T), key=ks[3])
    return x, kind


Xtr, _ = strokes(4096, mx.random.key(1))
Xte, kte = strokes(512, mx.random.key(2))


class BowVAE(nn.Module):
    def __init__(self, z=4):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(T, 64), nn.GELU(), nn.Linear(64, 2 * z))
        self.dec = nn.Sequential(nn.Linear(z, 64), nn.GELU(), nn.Linear(64, T))

    def __call__(self, x, key):
        mu, logvar = mx.split(self.enc(x), 2, axis=-1)
        logvar = mx.clip(logvar, -8.0, 6.0)
        eps = mx.random.normal(mu.shape, key=key)
        z = mu + mx.exp(0.5 * logvar) * eps
        return self.dec(z), mu, logvar


def terms(model, x, key):
    xh, mu, logvar = model(x, key)
    rec = mx.sum(mx.square(xh - x), axis=-1).mean()
    kl = (-0.5 * mx.sum(1 + logvar - mu * mu - mx.exp(logvar), axis=-1)).mean()
    return rec, kl


def objective(model, x, key, beta):
    rec, kl = terms(model, x, key)
    return rec + beta * kl, (rec, kl)


model = BowVAE()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
grad_fn = nn.value_and_grad(model, objective)

# one-off audit: which tensors get gradient with beta = 1
(_, _), g = grad_fn(model, Xtr[:256], mx.random.key(0), mx.array(1.0))
from mlx.utils import tree_flatten
flat = tree_flatten(g)
log.info("grad audit: %d tensors, min |g|max = %.2e", len(flat), min(float(mx.abs(v).max()) for _, v in flat))

state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, beta):
    (loss, (rec, kl)), grads = grad_fn(model, x, None, beta)
    opt.update(model, grads)
    return loss, rec, kl


CYCLE, N_CYCLES, BATCH = 150, 4, 128
steps = CYCLE * N_CYCLES
for step in range(steps):
    pos = (step % CYCLE) / (CYCLE / 2)
    beta = min(1.0, pos)
    idx = mx.random.randint(0, Xtr.shape[0], (BATCH,))
    loss, rec, kl = train_step(Xtr[idx], mx.array(beta))
    mx.eval(state, loss, rec, kl)
    if step % 30 == 0 or step == steps - 1:
        log.info("cyc %d step %3d beta=%.2f | elbo_obj %.4f rec %.4f kl %.4f",
                 step // CYCLE, step % CYCLE, beta, float(loss), float(rec), float(kl))

# held-out check: reconstruction and latent separation of the 4 stroke kinds
rec, kl = terms(model, Xte, mx.random.key(99))
_, mu, _ = model(Xte, mx.random.key(99))
cent = mx.stack([(mu * (kte == k)[:, None]).sum(0) / (kte == k).sum() for k in range(4)])
d = mx.sqrt(mx.sum(mx.square(mu[:, None, :] - cent[None]), axis=-1))
acc = float((mx.argmin(d, axis=1) == kte).mean())
var_x = float(mx.sum(mx.square(Xte - Xte.mean(0)), axis=-1).mean())
log.info("held-out: rec %.4f (trace variance %.4f) kl %.3f nats | nearest-centroid stroke id %.1f%%",
         float(rec), var_x, float(kl), 100 * acc)
