"""Pottery studio: compress 12-band reflectance spectra of fired glazes into a
2-d latent with a VAE.  The KL weight (beta) is annealed 0 -> 1 over the first
800 steps: until then train_loss is the beta-weighted objective, not the ELBO,
and train_kl jumps from ~0 to ~6 nats as the latent starts being used.
val_neg_elbo is always the full negative ELBO (beta 1) on a fixed noise seed.
The Gaussian decoder learns its own per-band noise scale."""
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(2089)
BANDS = np.linspace(0, 1, 12)


def fire_glazes(n):
    # two hidden causes: oxide colour position and gloss/opacity
    hue = rng.uniform(0.1, 0.9, n)[:, None]
    gloss = rng.uniform(0, 1, n)[:, None]
    peak = np.exp(-((BANDS[None] - hue) ** 2) / 0.02)
    spec = 0.15 + 0.55 * peak * (0.4 + 0.6 * gloss) + 0.2 * gloss * BANDS[None]
    return (spec + rng.normal(0, 0.02, spec.shape)).astype(np.float32)


train = fire_glazes(8000)
val = fire_glazes(1500)
m, s = train.mean(0), train.std(0)
train_m = mx.array((train - m) / s)
val_m = mx.array((val - m) / s)


class GlazeVAE(nn.Module):
    def __init__(self, d=12, h=64, z=2):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU())
        self.mu = nn.Linear(h, z)
        self.logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, d))
        self.log_sigma = mx.zeros((d,))           # decoder noise scale per band

    def __call__(self, x):
        h = self.enc(x)
        mu, logvar = self.mu(h), mx.clip(self.logvar(h), -10.0, 6.0)
        z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape)
        return self.dec(z), mu, logvar


def parts(model, x):
    recon, mu, logvar = model(x)
    ls = model.log_sigma
    nll = 0.5 * mx.square((x - recon) / mx.exp(ls)) + ls + 0.5 * math.log(2 * math.pi)
    nll = nll.sum(-1).mean()
    kl = (-0.5 * (1 + logvar - mx.square(mu) - mx.exp(logvar))).sum(-1).mean()
    return nll, kl


def loss_fn(model, x, beta):
    nll, kl = parts(model, x)
    return nll + beta * kl, (nll, kl)


model = GlazeVAE()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=1e-3)
step_fn = nn.value_and_grad(model, loss_fn)

ANNEAL, STEPS, BATCH = 800, 3000, 100


def beta_at(step):
    return min(1.0, step / ANNEAL)


def validate():
    mx.random.seed(5)
    nll, kl = parts(model, val_m)
    return float(nll), float(kl)


def branch(items, last=False):
    print(("└─ " if last else "├─ ") + "  ".join(items), flush=True)


v_nll, v_kl = validate()
print(f"glaze-vae  train={len(train)}  val={len(val)}  bands=12  latent=2")
branch([f"step 0", f"val_nll {v_nll:+.3f}", f"val_kl {v_kl:.3f}", f"val_neg_elbo {v_nll + v_kl:+.3f}"])

mx.random.seed(0)
order, cur = rng.permutation(len(train)), 0
acc, t0 = [], time.time()
for step in range(1, STEPS + 1):
    if cur + BATCH > len(order):
        order, cur = rng.permutation(len(train)), 0
    xb = train_m[mx.array(order[cur:cur + BATCH])]
    cur += BATCH
    beta = beta_at(step)
    (loss, (nll, kl)), grads = step_fn(model, xb, beta)
    if step == 1:
        flat = tree_flatten(grads)
        dead = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
        branch([f"gradient leaves {len(flat)}", f"all-zero {dead}"])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, nll, kl)
    acc.append((loss.item(), nll.item(), kl.item()))
    if step in (1, 100, 200, 400) or step % 500 == 0:
        a = np.array(acc)
        v_nll, v_kl = validate()
        branch([f"step {step}", f"beta {beta:.3f}", f"train_loss {a[:, 0].mean():+.3f}",
                f"train_kl {a[:, 2].mean():.3f}", f"val_neg_elbo {v_nll + v_kl:+.3f}",
                f"{time.time() - t0:.1f}s"], last=(step == STEPS))
        acc = []
        mx.random.seed(1000 + step)

print(f"    (negative ELBO in nats per glaze, lower is better; beta reaches 1 at step {ANNEAL})")
