# Shoe-last fitting: a small beta-VAE over 12 foot-scan measurements (mm, standardised).
# KL weight ramps 0 -> 1, learning rate warms up from exactly 0, two seeds in turn.
# Prints one JSON object per report; "pca3" is a linear 3-component reconstruction baseline.
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

gen = np.random.default_rng(2024)


def foot_scans(n):
    length = gen.normal(0, 1, n)      # latent foot length
    width = gen.normal(0, 1, n)       # latent forefoot width
    arch = gen.normal(0, 1, n)        # latent arch height
    m = np.stack([
        262 + 12 * length,                               # foot length
        245 + 11 * length + 2 * arch,                    # arch length
        98 + 6 * width + 1.5 * length,                   # ball width
        64 + 4 * width,                                  # heel width
        245 + 9 * width + 6 * length,                    # ball girth
        250 + 5 * arch + 4 * np.tanh(width),             # instep girth
        18 + 6 * np.tanh(arch),                          # navicular height
        72 + 3 * arch - 1.5 * width,                     # instep height
        24 + 2 * width * np.exp(-0.3 * arch),            # toe box height
        335 + 10 * length + 4 * arch,                    # heel girth
        8 + 3 * np.abs(width - 0.5 * arch),              # toe splay
        40 + 5 * length * np.tanh(arch + 1),             # medial flare
    ], 1)
    return m + gen.normal(0, 1.2, m.shape)


tr, va = foot_scans(2400), foot_scans(600)
mu, sd = tr.mean(0), tr.std(0)
tr = ((tr - mu) / sd).astype(np.float32)
va = ((va - mu) / sd).astype(np.float32)

# linear baseline: best 3-component PCA reconstruction, per-feature mean squared error
_, _, vt = np.linalg.svd(tr, full_matrices=False)
P = vt[:3].T @ vt[:3]
pca3_val = float(np.mean((va @ P - va) ** 2))


class LastVAE(nn.Module):
    def __init__(self, d=12, h=48, z=3):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU())
        self.mu = nn.Linear(h, z)
        self.logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, d))

    def __call__(self, x, key):
        e = self.enc(x)
        m, lv = self.mu(e), mx.clip(self.logvar(e), -8, 6)
        z = m + mx.exp(0.5 * lv) * mx.random.normal(m.shape, key=key)
        return self.dec(z), m, lv


def terms(model, x, key):
    xh, m, lv = model(x, key)
    recon = mx.mean(mx.sum((xh - x) ** 2, axis=1))
    kl = mx.mean(-0.5 * mx.sum(1 + lv - m ** 2 - mx.exp(lv), axis=1))
    return recon, kl


def objective(model, x, key, beta):
    recon, kl = terms(model, x, key)
    return recon + beta * kl, (recon, kl)


STEPS, WARM, RAMP, BATCH, REPORT = 900, 120, 500, 96, 60
summary = []
t_all = time.time()
for seed in (11, 12):
    mx.random.seed(seed)
    model = LastVAE()
    mx.eval(model.parameters())
    warm = optim.linear_schedule(0.0, 3e-3, WARM)
    decay = optim.cosine_decay(3e-3, STEPS - WARM, 2e-4)
    opt = optim.AdamW(learning_rate=optim.join_schedules([warm, decay], [WARM]), weight_decay=1e-4)
    step_fn = nn.value_and_grad(model, objective)
    order = np.random.default_rng(seed)
    key = mx.random.key(seed)
    for step in range(STEPS):
        beta = min(1.0, step / RAMP)
        idx = order.integers(0, len(tr), BATCH)
        key, sub = mx.random.split(key)
        lr_now = opt.learning_rate.item()
        (loss, (rec, kl)), grads = step_fn(model, mx.array(tr[idx]), sub, mx.array(beta))
        if step == 1:
            flat = tree_flatten(grads)
            zero = sum(1 for _, g in flat if mx.all(g == 0).item())
            print(json.dumps({"seed": seed, "check": "grad_coverage", "tensors": len(flat), "all_zero": zero}))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, rec, kl)
        if step % REPORT == 0 or step == STEPS - 1:
            vr, vk = terms(model, mx.array(va), mx.random.key(0))
            print(json.dumps({
                "seed": seed, "step": step, "lr": round(lr_now, 6), "beta": round(beta, 3),
                "loss": round(loss.item(), 4), "recon": round(rec.item(), 4), "kl_nats": round(kl.item(), 3),
                "val_recon_per_feat": round(vr.item() / 12, 4), "pca3": round(pca3_val, 4),
                "val_kl_nats": round(vk.item(), 3)}))
    xh, m, _ = model(mx.array(va), mx.random.key(1))
    det = float(mx.mean((model.dec(m) - mx.array(va)) ** 2).item())
    summary.append({"seed": seed, "val_mse_at_mean": round(det, 4), "pca3": round(pca3_val, 4)})

print(json.dumps({"summary": summary, "seconds": round(time.time() - t_all, 1)}))
