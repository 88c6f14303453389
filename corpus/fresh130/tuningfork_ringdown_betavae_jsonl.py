"""Ring-down envelopes of struck tuning forks -> a small beta-VAE.

Each trace is 24 samples of the amplitude envelope (dB above the noise floor)
after a strike.  Hidden causes: strike strength, decay time constant and a slow
beat from a slightly mistuned prong.  We learn a 3-d latent code.

KL weight beta ramps 0 -> 1 over the first 40% of steps, and the learning rate
warms up from exactly 0, so the printed total loss goes UP for a while before
it comes down.  A PCA(3) reconstruction error is printed as a reference.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(1742)
T = 24
t = np.arange(T, dtype=np.float32) / T


def make_forks(n):
    strike = rng.uniform(0.6, 1.4, size=(n, 1))          # relative strike strength
    tau = rng.uniform(0.15, 0.9, size=(n, 1))            # decay constant (fraction of window)
    beat = rng.uniform(0.5, 3.0, size=(n, 1))            # beats per window
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    env = strike * np.exp(-t[None, :] / tau) * (1.0 + 0.25 * np.cos(2 * np.pi * beat * t[None, :] + phase))
    env_db = 20.0 * np.log10(env + 0.02) + 34.0           # dB over noise floor
    env_db += rng.normal(0, 0.6, size=env_db.shape)
    return env_db.astype(np.float32)


train_np = make_forks(6000)
valid_np = make_forks(1000)
mu_np, sd_np = train_np.mean(0), train_np.std(0) + 1e-6
train_np = (train_np - mu_np) / sd_np
valid_np = (valid_np - mu_np) / sd_np

# reference: linear PCA with the same latent width
_, _, vt = np.linalg.svd(train_np - train_np.mean(0), full_matrices=False)
P = vt[:3]
pca_rec = (valid_np - train_np.mean(0)) @ P.T @ P + train_np.mean(0)
pca_mse = float(((pca_rec - valid_np) ** 2).sum(1).mean())

X = mx.array(train_np)
V = mx.array(valid_np)


class ForkVAE(nn.Module):
    def __init__(self, d_in=T, h=64, z=3):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d_in, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU())
        self.to_mu = nn.Linear(h, z)
        self.to_logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, d_in))

    def __call__(self, x, key):
        hdn = self.enc(x)
        mu, logvar = self.to_mu(hdn), mx.clip(self.to_logvar(hdn), -8.0, 6.0)
        eps = mx.random.normal(mu.shape, key=key)
        z = mu + mx.exp(0.5 * logvar) * eps
        return self.dec(z), mu, logvar


def terms(model, x, key):
    xr, mu, logvar = model(x, key)
    recon = mx.sum(mx.square(xr - x), axis=1).mean()
    kl = (-0.5 * mx.sum(1 + logvar - mu * mu - mx.exp(logvar), axis=1)).mean()
    return recon, kl


def loss_fn(model, x, key, beta):
    recon, kl = terms(model, x, key)
    return recon + beta * kl, (recon, kl)


model = ForkVAE()
mx.eval(model.parameters())

STEPS = 1500
WARM = 150
BATCH = 128
ANNEAL = int(0.4 * STEPS)
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, STEPS - WARM, 1e-4)],
    [WARM],
)
opt = optim.Adam(learning_rate=sched)
vg = nn.value_and_grad(model, loss_fn)

print(json.dumps({"event": "start", "n_train": int(X.shape[0]), "n_valid": int(V.shape[0]),
                  "params": sum(v.size for _, v in tree_flatten(model.trainable_parameters())),
                  "pca3_valid_sse": round(pca_mse, 3)}))

root = mx.random.key(7)
t0 = time.time()
for step in range(STEPS):
    beta = min(1.0, step / ANNEAL)
    idx = mx.array(rng.integers(0, X.shape[0], size=BATCH))
    root, k = mx.random.split(root)
    (loss, (recon, kl)), grads = vg(model, X[idx], k, mx.array(beta))
    lr_now = opt.learning_rate
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, recon, kl)
    if step % 100 == 0 or step == STEPS - 1:
        vr, vk = terms(model, V, mx.random.key(99))
        print(json.dumps({
            "step": step, "lr": float(f"{lr_now.item():.6f}"), "beta": round(beta, 3),
            "loss": round(loss.item(), 4), "recon": round(recon.item(), 4), "kl": round(kl.item(), 4),
            "val_recon": round(vr.item(), 4), "val_kl": round(vk.item(), 4),
            "val_elbo": round((vr + vk).item(), 4), "pca3_ref": round(pca_mse, 3),
        }))

vr, vk = terms(model, V, mx.random.key(99))
# posterior-mean reconstruction vs PCA
hdn = model.enc(V)
rec_mean = model.dec(model.to_mu(hdn))
mean_sse = mx.sum(mx.square(rec_mean - V), axis=1).mean().item()
print(json.dumps({"event": "done", "secs": round(time.time() - t0, 2),
                  "val_recon": round(vr.item(), 4), "val_kl": round(vk.item(), 4),
                  "posterior_mean_sse": round(mean_sse, 4), "pca3_valid_sse": round(pca_mse, 3)}))
