"""Gem lab: a small beta-VAE over round-brilliant diamond proportion sheets.

Every stone in the lab's (synthetic) archive has 9 proportion measurements.
They are driven by three hidden "cutter habits" (spread vs. deep cut, steep vs.
shallow crown, polish discipline) plus measurement noise.  We fit a VAE with a
3-d latent and anneal the KL weight beta from exactly 0 up to 1 over the first
40% of epochs, so the reported total objective climbs while beta ramps up and
only then settles.  One JSON record per epoch goes to stdout; every 8 epochs an
audit line reports gradient / parameter norms.
"""

import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
FIELDS = ["table_pct", "depth_pct", "crown_deg", "pavilion_deg", "girdle_pct",
          "culet_pct", "star_pct", "lower_half_pct", "symmetry_dev"]


def make_sheets(n):
    z = rng.normal(size=(n, 3))
    spread, crown, polish = z[:, 0], z[:, 1], z[:, 2]
    table = 57.0 + 2.2 * spread + 0.6 * crown
    depth = 61.8 - 1.5 * spread + 0.4 * np.tanh(crown)
    crown_a = 34.5 + 1.4 * crown - 0.3 * spread
    pav = 40.8 - 0.35 * spread + 0.25 * crown * spread
    girdle = 3.0 + 0.5 * np.abs(spread) - 0.3 * polish
    culet = np.clip(0.4 - 0.25 * polish + 0.1 * spread, 0.0, None)
    star = 50.0 + 3.0 * crown + 1.0 * polish
    lower = 77.0 + 1.5 * spread - 1.2 * polish
    sym = np.exp(-0.6 * polish) * 0.8
    x = np.stack([table, depth, crown_a, pav, girdle, culet, star, lower, sym], 1)
    x += rng.normal(scale=0.15, size=x.shape) * x.std(0, keepdims=True)
    return x.astype(np.float32)


train_np, valid_np = make_sheets(6000), make_sheets(1000)
mu_np, sd_np = train_np.mean(0), train_np.std(0)
train = mx.array((train_np - mu_np) / sd_np)
valid = mx.array((valid_np - mu_np) / sd_np)


class SheetVAE(nn.Module):
    def __init__(self, d=9, h=64, k=3):
        super().__init__()
        self.enc1 = nn.Linear(d, h)
        self.enc2 = nn.Linear(h, h)
        self.to_mu = nn.Linear(h, k)
        self.to_logvar = nn.Linear(h, k)
        self.dec1 = nn.Linear(k, h)
        self.dec2 = nn.Linear(h, h)
        self.out = nn.Linear(h, d)

    def encode(self, x):
        h = nn.gelu(self.enc2(nn.gelu(self.enc1(x))))
        return self.to_mu(h), mx.clip(self.to_logvar(h), -8.0, 6.0)

    def decode(self, z):
        return self.out(nn.gelu(self.dec2(nn.gelu(self.dec1(z)))))

    def __call__(self, x):
        mu, logvar = self.encode(x)
        eps = mx.random.normal(mu.shape)
        z = mu + mx.exp(0.5 * logvar) * eps
        return self.decode(z), mu, logvar


def pieces(model, x):
    recon, mu, logvar = model(x)
    rec = mx.mean(mx.sum(mx.square(recon - x), axis=1))
    kl = mx.mean(mx.sum(0.5 * (mx.exp(logvar) + mx.square(mu) - 1.0 - logvar), axis=1))
    return rec, kl


def objective(model, x, beta):
    rec, kl = pieces(model, x)
    return rec + beta * kl, (rec, kl)


mx.random.seed(11)
model = SheetVAE()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=2e-3)
step_fn = nn.value_and_grad(model, objective)

EPOCHS, BATCH = 40, 128
ANNEAL = int(0.4 * EPOCHS)
n = train.shape[0]
baseline_mse = float(mx.mean(mx.sum(mx.square(valid - mx.mean(train, axis=0)), axis=1)).item())

t0 = time.time()
for ep in range(EPOCHS):
    beta = min(1.0, ep / ANNEAL)          # exactly 0.0 in the first epoch
    perm = mx.array(rng.permutation(n))
    tot = rec_s = kl_s = 0.0
    nb = 0
    for i in range(0, n, BATCH):
        xb = train[perm[i:i + BATCH]]
        (loss, (rec, kl)), grads = step_fn(model, xb, beta)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, rec, kl)
        tot += loss.item(); rec_s += rec.item(); kl_s += kl.item(); nb += 1

    v_rec, v_kl = pieces(model, valid)
    _, v_mu, v_lv = model(valid)
    kl_dim = mx.mean(0.5 * (mx.exp(v_lv) + mx.square(v_mu) - 1.0 - v_lv), axis=0)
    mx.eval(v_rec, v_kl, kl_dim)
    active = int(mx.sum(kl_dim > 0.05).item())
    rec_json = {
        "epoch": ep + 1, "beta": round(beta, 4),
        "train_objective": round(tot / nb, 4), "train_recon": round(rec_s / nb, 4),
        "train_kl_nats": round(kl_s / nb, 4), "valid_recon": round(v_rec.item(), 4),
        "valid_kl_nats": round(v_kl.item(), 4), "valid_elbo_bound": round(v_rec.item() + v_kl.item(), 4),
        "active_latents": active,
    }
    print(json.dumps(rec_json), flush=True)

    if (ep + 1) % 8 == 0:
        gsq = sum(float(mx.sum(g * g).item()) for _, g in tree_flatten(grads))
        psq = sum(float(mx.sum(p * p).item()) for _, p in tree_flatten(model.parameters()))
        zero_g = [k for k, g in tree_flatten(grads) if float(mx.max(mx.abs(g)).item()) == 0.0]
        print(f"# audit ep={ep + 1:02d} |grad|={math.sqrt(gsq):.4f} |theta|={math.sqrt(psq):.3f} "
              f"zero-grad tensors={len(zero_g)} kl/dim={[round(v, 3) for v in kl_dim.tolist()]}", flush=True)

final_rec = float(pieces(model, valid)[0].item())
print(json.dumps({"summary": "done", "valid_recon": round(final_rec, 4),
                  "mean_predictor_recon": round(baseline_mse, 4),
                  "recon_vs_baseline_pct": round(100.0 * final_rec / baseline_mse, 2),
                  "seconds": round(time.time() - t0, 2)}))
