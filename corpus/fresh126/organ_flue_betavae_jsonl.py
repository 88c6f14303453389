"""Pipe-organ flue voicing notebook: learn a small latent space of flue-pipe
harmonic spectra with a beta-VAE.  Beta is warmed up from 0 -> 1, so the
objective that gets reported (recon + beta*KL) climbs while the KL term is
being switched on; the reconstruction and validation numbers are the ones to
watch.  One JSON object per epoch on stdout."""
import json
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(41)
N_HARM = 16


def voice_pipes(n):
    # three voicing knobs: cut-up height, mouth width, wind pressure
    cut = rng.uniform(-1, 1, n)
    mouth = rng.uniform(-1, 1, n)
    wind = rng.uniform(-1, 1, n)
    k = np.arange(1, N_HARM + 1)[None, :]
    db = (-6.0 * np.log2(k) * (1.0 + 0.3 * cut[:, None])
          + 4.0 * wind[:, None] * np.exp(-k / 5.0)
          + 3.0 * mouth[:, None] * np.sin(0.7 * k)
          + 1.5 * (cut * wind)[:, None] * (k % 2 == 0))
    db += rng.normal(0, 0.8, db.shape)  # microphone / room noise, dB
    return db.astype(np.float32)


train_db = voice_pipes(6000)
val_db = voice_pipes(1000)
mu_db, sd_db = train_db.mean(0), train_db.std(0)
Xtr = mx.array((train_db - mu_db) / sd_db)
Xva = mx.array((val_db - mu_db) / sd_db)


class FluePipeVAE(nn.Module):
    def __init__(self, d=N_HARM, h=64, z=6):
        super().__init__()
        self.enc1 = nn.Linear(d, h)
        self.enc2 = nn.Linear(h, h)
        self.to_mu = nn.Linear(h, z)
        self.to_logvar = nn.Linear(h, z)
        self.dec1 = nn.Linear(z, h)
        self.dec2 = nn.Linear(h, h)
        self.out = nn.Linear(h, d)

    def encode(self, x):
        h = nn.gelu(self.enc2(nn.gelu(self.enc1(x))))
        return self.to_mu(h), mx.clip(self.to_logvar(h), -8.0, 6.0)

    def decode(self, z):
        return self.out(nn.gelu(self.dec2(nn.gelu(self.dec1(z)))))

    def __call__(self, x, sample=True):
        mu, logvar = self.encode(x)
        if sample:
            z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape)
        else:
            z = mu
        return self.decode(z), mu, logvar


def terms(model, x, sample=True):
    xhat, mu, logvar = model(x, sample)
    recon = 0.5 * mx.sum(mx.square(xhat - x), axis=1).mean()
    kl_dim = 0.5 * (mx.exp(logvar) + mx.square(mu) - 1.0 - logvar)
    kl = mx.sum(kl_dim, axis=1).mean()
    return recon, kl, kl_dim.mean(axis=0)


def objective(model, x, beta):
    recon, kl, _ = terms(model, x)
    return recon + beta * kl, (recon, kl)


mx.random.seed(7)
model = FluePipeVAE()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
grad_fn = nn.value_and_grad(model, objective)
state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, beta):
    (loss, (recon, kl)), grads = grad_fn(model, x, beta)
    opt.update(model, grads)
    return loss, recon, kl


EPOCHS, BATCH, WARM_EPOCHS = 14, 128, 8
steps_per_epoch = Xtr.shape[0] // BATCH
total_steps = EPOCHS * steps_per_epoch
ref_recon = 0.5 * N_HARM  # predicting the mean spectrum on standardised data
t0 = time.time()
step = 0
for epoch in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(Xtr.shape[0]))
    s_loss = s_rec = s_kl = 0.0
    for b in range(steps_per_epoch):
        beta_now = min(1.0, step / (WARM_EPOCHS * steps_per_epoch))
        xb = Xtr[perm[b * BATCH:(b + 1) * BATCH]]
        loss, recon, kl = train_step(xb, mx.array(beta_now, dtype=mx.float32))
        mx.eval(loss, recon, kl, state)
        s_loss += loss.item()
        s_rec += recon.item()
        s_kl += kl.item()
        step += 1
    v_rec, v_kl, v_kl_dim = terms(model, Xva, sample=False)
    mx.eval(v_rec, v_kl, v_kl_dim)
    active = int((np.array(v_kl_dim) > 0.05).sum())
    print(json.dumps({
        "epoch": epoch,
        "step": step,
        "beta": round(beta_now, 4),
        "train": {"obj": round(s_loss / steps_per_epoch, 4),
                  "recon": round(s_rec / steps_per_epoch, 4),
                  "kl_nats": round(s_kl / steps_per_epoch, 4)},
        "val": {"recon": round(v_rec.item(), 4),
                "kl_nats": round(v_kl.item(), 4),
                "neg_elbo": round(v_rec.item() + v_kl.item(), 4)},
        "ref_recon_mean_spectrum": ref_recon,
        "active_latents": f"{active}/6",
        "elapsed_s": round(time.time() - t0, 2),
    }), flush=True)

final_rec = terms(model, Xva, sample=False)[0].item()
print(json.dumps({"summary": "done", "val_recon": round(final_rec, 4),
                  "val_recon_vs_ref_pct": round(100.0 * final_rec / ref_recon, 1),
                  "steps": step}))
