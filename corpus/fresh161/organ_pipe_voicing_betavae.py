"""Voicing-room notebook: a small beta-VAE over organ-pipe harmonic spectra.

Each pipe is described by the log amplitudes of its first 24 harmonics as
measured after voicing.  Three hidden knobs shape a spectrum: brightness
(how fast the harmonics fall off), the stopped-pipe character (odd harmonics
dominate) and a formant bump from the mouth cut-up.  We learn a 4-d latent
space and anneal the KL weight from 0 to 1, so the printed objective climbs
for a while before it settles.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(7)
N_HARM = 24
LATENT = 4


def make_pipes(n):
    k = np.arange(1, N_HARM + 1, dtype=np.float64)
    bright = rng.uniform(0.6, 2.2, size=(n, 1))
    stopped = (rng.uniform(size=(n, 1)) < 0.4).astype(np.float64)
    depth = rng.uniform(0.5, 2.5, size=(n, 1)) * stopped
    f_pos = rng.uniform(3.0, 14.0, size=(n, 1))
    f_gain = rng.uniform(0.0, 1.5, size=(n, 1))
    logamp = -bright * np.log(k)[None, :]
    logamp -= depth * (k[None, :] % 2 == 0)
    logamp += f_gain * np.exp(-0.5 * ((k[None, :] - f_pos) / 1.8) ** 2)
    logamp += 0.08 * rng.standard_normal(logamp.shape)
    return logamp.astype(np.float32)


train_np = make_pipes(3000)
val_np = make_pipes(600)
mu_np, sd_np = train_np.mean(0), train_np.std(0) + 1e-6
train_x = mx.array((train_np - mu_np) / sd_np)
val_x = mx.array((val_np - mu_np) / sd_np)


class PipeVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(N_HARM, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.to_mu = nn.Linear(64, LATENT)
        self.to_logvar = nn.Linear(64, LATENT)
        self.dec = nn.Sequential(nn.Linear(LATENT, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, N_HARM))

    def __call__(self, x):
        h = self.enc(x)
        mu, logvar = self.to_mu(h), mx.clip(self.to_logvar(h), -8.0, 6.0)
        z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape)
        return self.dec(z), mu, logvar


def parts(model, x):
    recon, mu, logvar = model(x)
    rec = mx.sum(mx.square(recon - x), axis=1).mean()
    kl = (-0.5 * mx.sum(1.0 + logvar - mx.square(mu) - mx.exp(logvar), axis=1)).mean()
    return rec, kl


def objective(model, x, beta):
    rec, kl = parts(model, x)
    return rec + beta * kl, (rec, kl)


EPOCHS = 30
BATCH = 100
steps_per_epoch = train_x.shape[0] // BATCH
total_steps = EPOCHS * steps_per_epoch
warm = 2 * steps_per_epoch
lr = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total_steps - warm, 1e-4)],
    [warm],
)
model = PipeVAE()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=lr)


def loss_only(model, x, beta):
    return objective(model, x, beta)[0]


grad_fn = nn.value_and_grad(model, loss_only)

# the per-sample recon error of always predicting the mean spectrum (= 24 after standardising)
baseline = float(mx.sum(mx.square(val_x), axis=1).mean())
t0 = time.time()
step = 0
for epoch in range(EPOCHS):
    beta = min(1.0, epoch / 12.0)  # KL weight ramps 0 -> 1 over 12 epochs
    perm = mx.array(rng.permutation(train_x.shape[0]))
    run_obj = run_rec = run_kl = 0.0
    for i in range(steps_per_epoch):
        xb = train_x[perm[i * BATCH:(i + 1) * BATCH]]
        lr_now = float(opt.learning_rate)
        loss, grads = grad_fn(model, xb, beta)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step == 0:
            gn = {k: float(mx.abs(v).sum()) for k, v in
                  __import__("mlx.utils", fromlist=["tree_flatten"]).tree_flatten(grads)}
            dead = [k for k, v in gn.items() if v == 0.0]
            print(json.dumps({"event": "grad_audit", "tensors": len(gn), "zero_grad": dead, "lr_step0": lr_now}))
        step += 1
        run_obj += loss.item()
    model.eval()
    vrec, vkl = parts(model, val_x)
    model.train()
    mx.eval(vrec, vkl)
    print(json.dumps({
        "epoch": epoch + 1,
        "beta": round(beta, 3),
        "objective": round(run_obj / steps_per_epoch, 4),
        "val_recon": round(vrec.item(), 4),
        "val_kl_nats": round(vkl.item(), 4),
        "val_elbo": round(vrec.item() + vkl.item(), 4),
        "lr": float(f"{float(opt.learning_rate):.3g}"),
    }))

print(json.dumps({"event": "summary", "mean_spectrum_recon": round(baseline, 3),
                  "vae_val_recon": round(vrec.item(), 3),
                  "recon_vs_baseline_pct": round(100.0 * vrec.item() / baseline, 1),
                  "seconds": round(time.time() - t0, 1)}))
