# Glaze-recipe VAE: oxide fractions + firing curve -> 3-d latent.  KL weight is annealed
# in steps (0 -> 0.25 -> 1.0), so the total objective climbs at each stage boundary.
import logging, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s glaze: %(message)s")
log = logging.getLogger("glaze")

rng = np.random.default_rng(3)
N, D, Z = 1024, 14, 3
latent = rng.normal(size=(N, Z))
mix = rng.normal(size=(Z, D)) / np.sqrt(Z)
recipes = np.tanh(latent @ mix) + 0.05 * rng.normal(size=(N, D))
data = mx.array(recipes.astype(np.float32))

class GlazeVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(D, 48), nn.GELU(), nn.Linear(48, 2 * Z))
        self.dec = nn.Sequential(nn.Linear(Z, 48), nn.GELU(), nn.Linear(48, D))
    def __call__(self, x, eps):
        mu, logvar = mx.split(self.enc(x), 2, axis=-1)
        z = mu + mx.exp(0.5 * logvar) * eps
        return self.dec(z), mu, logvar

def objective(model, x, eps, beta):
    rec, mu, logvar = model(x, eps)
    recon = ((rec - x) ** 2).sum(axis=-1).mean()
    kl = (-0.5 * (1 + logvar - mu ** 2 - mx.exp(logvar)).sum(axis=-1)).mean()
    return recon + beta * kl, (recon, kl)

model = GlazeVAE()
opt = optim.RMSprop(learning_rate=2e-3)
grad_fn = nn.value_and_grad(model, objective)
state = [model.state, opt.state]

@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, eps, beta):
    (loss, (recon, kl)), g = grad_fn(model, x, eps, beta)
    opt.update(model, g)
    gnorm = mx.sqrt(sum((v * v).sum() for _, v in tree_flatten(g)))
    return loss, recon, kl, gnorm

# gradient reach check before training
(_, _), g0 = grad_fn(model, data[:64], mx.random.normal((64, Z)), mx.array(1.0))
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
log.info("audit: %d param tensors, zero-grad tensors=%s", len(tree_flatten(g0)), dead)

stages = [("warm", 0.0, 300), ("anneal", 0.25, 300), ("full", 1.0, 400)]
BS = 128
t0 = time.time()
rows = []
for name, beta, steps in stages:
    b = mx.array(beta)
    acc = np.zeros(4)
    for it in range(steps):
        idx = mx.array(rng.integers(0, N, size=BS))
        eps = mx.random.normal((BS, Z))
        loss, recon, kl, gn = train_step(data[idx], eps, b)
        mx.eval(loss, recon, kl, gn, model.parameters(), opt.state)
        if it >= steps - 50:
            acc += np.array([loss.item(), recon.item(), kl.item(), gn.item()])
        if it == 0:
            log.info("stage=%s beta=%.2f first-step objective=%.4f recon=%.4f kl=%.4f",
                     name, beta, loss.item(), recon.item(), kl.item())
    acc /= 50
    rows.append((name, beta, *acc))
    log.info("stage=%s done after %d steps (%.1fs elapsed)", name, steps, time.time() - t0)

base = float(((data - data.mean(axis=0)) ** 2).sum(axis=-1).mean())
print("\n stage   beta  objective   recon     kl      |g|")
for r in rows:
    print(f" {r[0]:<7} {r[1]:4.2f}  {r[2]:9.4f}  {r[3]:7.4f}  {r[4]:7.4f}  {r[5]:6.3f}")
print(f" reference: predict-the-mean recon = {base:.4f}")
