# Harmonica reed bench: a small VAE learns 32-sample vibration envelopes of plucked reeds.
# KL weight is annealed 0 -> 1 over the first 40% of training (so the total objective climbs
# before it settles), and the learning rate warms up from exactly 0.
import json
from functools import partial
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)
T = 32
t = mx.arange(T) / T


def reeds(n):
    freq = mx.random.uniform(2.0, 6.0, (n, 1))      # cycles per window
    decay = mx.random.uniform(1.0, 4.0, (n, 1))
    amp = mx.random.uniform(0.6, 1.2, (n, 1))
    x = amp * mx.exp(-decay * t) * mx.sin(2 * mx.pi * freq * t)
    return x + 0.02 * mx.random.normal(x.shape)


class VAE(nn.Module):
    def __init__(self, z=3):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(T, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.mu = nn.Linear(64, z)
        self.logvar = nn.Linear(64, z)
        self.dec = nn.Sequential(nn.Linear(z, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, T))

    def __call__(self, x, eps):
        h = self.enc(x)
        mu, lv = self.mu(h), self.logvar(h)
        z = mu + mx.exp(0.5 * lv) * eps
        return self.dec(z), mu, lv


model = VAE()
STEPS, WARM = 900, 90
lr = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, STEPS - WARM, 1e-4)], [WARM])
opt = optim.Adam(learning_rate=lr)


def objective(model, x, eps, beta):
    xh, mu, lv = model(x, eps)
    rec = ((xh - x) ** 2).sum(-1).mean() * 50.0
    kl = (-0.5 * (1 + lv - mu**2 - mx.exp(lv)).sum(-1)).mean()
    return rec + beta * kl, (rec, kl)


state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, beta):
    eps = mx.random.normal((x.shape[0], 3))
    (loss, (rec, kl)), g = nn.value_and_grad(model, objective)(model, x, eps, beta)
    opt.update(model, g)
    return loss, rec, kl


held = reeds(256)
for step in range(STEPS):
    beta = min(1.0, step / (0.4 * STEPS))
    x = reeds(128)
    loss, rec, kl = train_step(x, mx.array(beta))
    mx.eval(state, loss, rec, kl)
    if step % 75 == 0 or step == STEPS - 1:
        xh, mu, lv = model(held, mx.zeros((256, 3)))
        snr = 10 * mx.log10((held**2).sum() / ((xh - held) ** 2).sum()).item()
        print(json.dumps({"it": step, "lr": round(opt.learning_rate.item(), 6), "beta": round(beta, 3),
                          "elbo_neg": round(loss.item(), 4), "recon": round(rec.item(), 4),
                          "kl_nats": round(kl.item(), 4), "heldout_snr_db": round(snr, 2)}))
print(json.dumps({"summary": "reed_vae", "final_snr_db": round(snr, 2), "latent_dims": 3}))
