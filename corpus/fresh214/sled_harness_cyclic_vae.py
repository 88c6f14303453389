"""Sled-dog team telemetry: a small beta-VAE over harness-sensor stints.

Each row is one dog's 10-minute stint: cadence, tug-line tension, lead distance,
heart rate, paw temp, trail grade, snow depth, air temp (synthetic, 3 latent
"fitness / terrain / weather" factors mixed non-linearly, then standardised).
Cyclical KL annealing (beta 0 -> 1 over each of 4 cycles) and a linear LR
warm-up that starts at exactly 0.  Logs one JSON object per line.
"""
import json
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)
N, D, Z = 3000, 8, 3

# ---- synthetic stints --------------------------------------------------
lat = mx.random.normal((N, 3))
mix = mx.random.normal((3, D)) * 0.9
raw = mx.tanh(lat @ mix) + 0.35 * (lat[:, :1] * lat[:, 1:2]) + 0.08 * mx.random.normal((N, D))
data = (raw - raw.mean(axis=0)) / raw.std(axis=0)
train, valid = data[:2500], data[2500:]
baseline_mse = ((valid - train.mean(axis=0)) ** 2).mean().item()  # predict-the-mean reference


class StintVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(D, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU())
        self.mu = nn.Linear(48, Z)
        self.logvar = nn.Linear(48, Z)
        self.dec = nn.Sequential(nn.Linear(Z, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU(), nn.Linear(48, D))

    def __call__(self, x, sample=True):
        h = self.enc(x)
        mu, logvar = self.mu(h), mx.clip(self.logvar(h), -8.0, 6.0)
        z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape) if sample else mu
        return self.dec(z), mu, logvar


def parts(model, x, sample=True):
    xhat, mu, logvar = model(x, sample)
    recon = ((xhat - x) ** 2).sum(axis=1).mean()
    kl = (-0.5 * (1 + logvar - mu ** 2 - mx.exp(logvar)).sum(axis=1)).mean()
    return recon, kl


def loss_fn(model, x, beta):
    recon, kl = parts(model, x)
    return recon + beta * kl, (recon, kl)


STEPS, CYCLES, WARM, BS = 1600, 4, 150, 125
per_cycle = STEPS // CYCLES


def beta_at(step):  # ramps 0 -> 1 over the first half of each cycle, then holds
    pos = (step % per_cycle) / per_cycle
    return min(1.0, 2.0 * pos)


sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, STEPS - WARM, 2e-4)], [WARM]
)
model = StintVAE()
opt = optim.Adamax(learning_rate=sched)
vg = nn.value_and_grad(model, loss_fn)

perm = mx.random.permutation(train.shape[0])
ptr = 0
for step in range(STEPS):
    if ptr + BS > train.shape[0]:
        perm, ptr = mx.random.permutation(train.shape[0]), 0
    xb = train[perm[ptr:ptr + BS]]
    ptr += BS
    beta = beta_at(step)
    (loss, (recon, kl)), grads = vg(model, xb, mx.array(beta))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, recon, kl)
    if step % 50 == 0 or step == STEPS - 1:
        vr, vk = parts(model, valid, sample=False)
        print(json.dumps({
            "cycle": step // per_cycle + 1, "step": step, "lr": round(opt.learning_rate.item(), 6),
            "beta": round(beta, 3), "loss": round(loss.item(), 4), "recon": round(recon.item(), 4),
            "kl_nats": round(kl.item(), 4), "val_mse_per_feat": round(vr.item() / D, 4),
            "val_kl": round(vk.item(), 4), "ref_mean_mse": round(baseline_mse, 4),
        }))

vr, vk = parts(model, valid, sample=False)
print(json.dumps({"summary": True, "val_mse_per_feat": round(vr.item() / D, 4),
                  "ref_mean_mse": round(baseline_mse, 4),
                  "explained_pct": round(100 * (1 - vr.item() / D / baseline_mse), 1),
                  "val_elbo_nats": round(-(vr.item() + vk.item()), 3)}))
