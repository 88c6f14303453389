# Tide mill millpond level traces -> beta-VAE with KL annealing.
# One-process mx.distributed group (gradient all_sum averaged over world size),
# Lion with warmup from exactly 0, logging module output.
import logging
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s tidemill: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("tidemill")

group = mx.distributed.init()
WORLD, RANK = group.size(), group.rank()
mx.random.seed(2024 + RANK)

T, LATENT = 32, 4


def ponds(n):
    t = mx.linspace(0.0, 1.0, T).reshape(1, T)
    amp = mx.random.uniform(1.5, 3.0, (n, 1))          # tidal range (m)
    phase = mx.random.uniform(0.0, 2 * math.pi, (n, 1))
    open_at = mx.random.uniform(0.45, 0.8, (n, 1))      # sluice opening (fraction of cycle)
    draw = mx.random.uniform(2.0, 5.0, (n, 1))          # draw-down rate (m per cycle)
    fill = amp * (0.5 + 0.5 * mx.sin(2 * math.pi * t + phase))
    drain = draw * mx.maximum(t - open_at, 0.0)
    level = mx.maximum(fill - drain, 0.0) + 0.05 * mx.random.normal((n, T))
    return level


train_x, held_x = ponds(2400), ponds(400)
mu_, sd_ = train_x.mean(axis=0), train_x.std(axis=0) + 1e-3
train_x, held_x = (train_x - mu_) / sd_, (held_x - mu_) / sd_


class PondVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(T, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.to_mu = nn.Linear(64, LATENT)
        self.to_logvar = nn.Linear(64, LATENT)
        self.dec = nn.Sequential(nn.Linear(LATENT, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(),
                                 nn.Linear(64, T))

    def __call__(self, x):
        h = self.enc(x)
        mu, logvar = self.to_mu(h), self.to_logvar(h)
        z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape)
        return self.dec(z), mu, logvar


def terms(model, x):
    xr, mu, logvar = model(x)
    recon = ((xr - x) ** 2).sum(axis=1).mean()
    kl = (-0.5 * (1 + logvar - mu ** 2 - mx.exp(logvar))).sum(axis=1).mean()
    return recon, kl


def loss_fn(model, x, beta):
    recon, kl = terms(model, x)
    return recon + beta * kl, (recon, kl)


model = PondVAE()
mx.eval(model.parameters())
STEPS, BS, WARM, ANNEAL = 1400, 96, 150, 600
lr = optim.join_schedules([optim.linear_schedule(0.0, 3e-4, WARM), optim.cosine_decay(3e-4, STEPS - WARM, 3e-5)], [WARM])
opt = optim.Lion(learning_rate=lr, weight_decay=1e-3)
vg = nn.value_and_grad(model, loss_fn)


def allreduce_mean(grads):
    return tree_map(lambda g: mx.distributed.all_sum(g, group=group) / WORLD, grads)


def step(x, beta):
    (loss, (recon, kl)), grads = vg(model, x, beta)
    grads = allreduce_mean(grads)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, recon, kl)
    return loss, recon, kl, grads


log.info("world=%d rank=%d  train=%s held=%s  steps=%d  warmup from lr=%.1f", WORLD, RANK,
         tuple(train_x.shape), tuple(held_x.shape), STEPS, lr(mx.array(0)).item())

# one-off audit: every trainable tensor receives gradient through the all_sum path
_, g0 = vg(model, train_x[:BS], mx.array(1.0))
g_red = allreduce_mean(g0)
zero = [k for k, g in tree_flatten(g0) if mx.abs(g).max().item() == 0.0]
diff = max(mx.abs(a - b).max().item() for (_, a), (_, b) in zip(tree_flatten(g0), tree_flatten(g_red)))
log.info("audit: %d grad tensors, %d all-zero, max|local-allsum/world|=%.2e", len(tree_flatten(g0)), len(zero), diff)

N = train_x.shape[0]
for it in range(1, STEPS + 1):
    beta = min(1.0, it / ANNEAL)
    idx = mx.random.randint(0, N, (BS,))
    loss, recon, kl, _ = step(train_x[idx], mx.array(beta))
    if it % 100 == 0 or it == 1:
        h_recon, h_kl = terms(model, held_x)
        log.info("it=%4d lr=%.2e beta=%.3f | loss=%.3f recon=%.3f kl=%.3f | held recon=%.3f kl=%.3f elbo=%.3f",
                 it, lr(mx.array(it)).item(), beta, loss.item(), recon.item(), kl.item(),
                 h_recon.item(), h_kl.item(), -(h_recon + h_kl).item())

h_recon, h_kl = terms(model, held_x)
baseline = ((held_x - held_x.mean(axis=0)) ** 2).sum(axis=1).mean().item()
log.info("done: held recon=%.3f (mean-trace baseline %.3f, %.1f%% of it) kl=%.3f nats",
         h_recon.item(), baseline, 100 * h_recon.item() / baseline, h_kl.item())
