"""Kombucha brew logs: a small VAE over 10-day pH/Brix/temperature curves.
KL weight is annealed 0 -> 1 over the first half, lr warms up from exactly 0."""
import json
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
DAYS = 10

def make_brews(n):
    sugar = mx.random.uniform(60, 110, (n, 1))          # g/L starting sugar
    temp = mx.random.uniform(20, 29, (n, 1))             # deg C
    scoby = mx.random.uniform(0.5, 2.0, (n, 1))          # culture strength
    t = mx.arange(DAYS).reshape(1, DAYS).astype(mx.float32)
    rate = 0.02 * scoby * (temp - 15) / 10
    ph = 4.2 - 1.4 * (1 - mx.exp(-rate * t * 3))
    brix = (sugar / 10) * mx.exp(-rate * t * 1.5)
    x = mx.concatenate([(ph - 3.5) / 0.5, (brix - 6) / 3], axis=1)
    return x + 0.03 * mx.random.normal(x.shape)

class BrewVAE(nn.Module):
    def __init__(self, d=2 * DAYS, h=48, z=3):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.SiLU(), nn.Linear(h, 2 * z))
        self.dec = nn.Sequential(nn.Linear(z, h), nn.SiLU(), nn.Linear(h, d))

    def __call__(self, x):
        mu, logvar = mx.split(self.enc(x), 2, axis=1)
        z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape)
        return self.dec(z), mu, logvar

def terms(model, x):
    rec, mu, logvar = model(x)
    recon = mx.mean(mx.sum((rec - x) ** 2, axis=1))
    kl = mx.mean(-0.5 * mx.sum(1 + logvar - mu ** 2 - mx.exp(logvar), axis=1))
    return recon, kl

train, held = make_brews(1536), make_brews(256)
model = BrewVAE()
EPOCHS, BS = 40, 64
steps_per_epoch = train.shape[0] // BS
warm = optim.linear_schedule(0.0, 2e-3, steps_per_epoch * 3)
decay = optim.cosine_decay(2e-3, steps_per_epoch * (EPOCHS - 3), 1e-4)
opt = optim.Adam(learning_rate=optim.join_schedules([warm, decay], [steps_per_epoch * 3]))

def loss_fn(model, x, beta):
    recon, kl = terms(model, x)
    return recon + beta * kl

step = nn.value_and_grad(model, loss_fn)
first_grads_checked = False
for epoch in range(EPOCHS):
    beta = min(1.0, epoch / (EPOCHS / 2))
    perm = mx.random.permutation(train.shape[0])
    tot = 0.0
    for i in range(steps_per_epoch):
        xb = train[perm[i * BS:(i + 1) * BS]]
        loss, grads = step(model, xb, mx.array(beta))
        if not first_grads_checked and epoch == 1:
            from mlx.utils import tree_flatten
            zero = [k for k, g in tree_flatten(grads) if float(mx.abs(g).sum()) == 0.0]
            print(json.dumps({"audit": "grad_nonzero", "zero_leaves": zero}))
            first_grads_checked = True
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    r, k = terms(model, held)
    mx.eval(r, k)
    rec = {"epoch": epoch, "beta": round(beta, 3), "lr": float(opt.learning_rate),
           "train_elbo": round(tot / steps_per_epoch, 4), "held_recon": round(r.item(), 4),
           "held_kl_nats": round(k.item(), 4)}
    if epoch % 4 == 0 or epoch == EPOCHS - 1:
        print(json.dumps(rec))
mean_baseline = mx.mean(mx.sum((held - mx.mean(train, axis=0)) ** 2, axis=1)).item()
print(json.dumps({"final": True, "held_recon": round(r.item(), 4),
                  "mean_curve_baseline": round(mean_baseline, 4), "held_kl_nats": round(k.item(), 4)}))
