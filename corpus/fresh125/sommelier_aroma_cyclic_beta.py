# Tasting-panel notebook: a small VAE over aroma-wheel profiles of wines.
# Each profile = 24 descriptor intensities (0-5 scale, panel averages).
# Cyclical KL annealing (beta ramps 0 -> 1 in every cycle, then holds),
# so the total objective climbs while beta ramps and the step counter
# restarts every cycle.  One JSON object per log line.
import json
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rs = np.random.RandomState(11)
DESCRIPTORS = 24
LATENT = 4

# three hidden style factors: fruit-forward, oak/barrel, acidity/minerality
load = rs.normal(0, 1, size=(3, DESCRIPTORS))
load[0, :8] += 1.6
load[1, 8:16] += 1.6
load[2, 16:] += 1.6


def tasting_sheets(n):
    z = rs.normal(0, 1, size=(n, 3))
    raw = 2.5 + 0.55 * np.tanh(z @ load / 2.0) * 2.0 + rs.normal(0, 0.25, size=(n, DESCRIPTORS))
    return np.clip(raw, 0.0, 5.0).astype(np.float32)


train = tasting_sheets(4000)
held = tasting_sheets(800)
mu_col, sd_col = train.mean(0), train.std(0)
train_s = mx.array((train - mu_col) / sd_col)
held_s = mx.array((held - mu_col) / sd_col)
baseline_rec = float(np.mean(((held - mu_col) / sd_col) ** 2))  # predicting the mean sheet


class AromaVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(DESCRIPTORS, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.to_mu = nn.Linear(64, LATENT)
        self.to_logvar = nn.Linear(64, LATENT)
        self.dec = nn.Sequential(nn.Linear(LATENT, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(),
                                 nn.Linear(64, DESCRIPTORS))

    def __call__(self, x, key):
        h = self.enc(x)
        mu, logvar = self.to_mu(h), mx.clip(self.to_logvar(h), -8.0, 6.0)
        eps = mx.random.normal(mu.shape, key=key)
        z = mu + mx.exp(0.5 * logvar) * eps
        return self.dec(z), mu, logvar


def terms(model, x, key):
    xh, mu, logvar = model(x, key)
    rec = mx.mean(mx.sum((xh - x) ** 2, axis=1)) / DESCRIPTORS
    kl = mx.mean(-0.5 * mx.sum(1 + logvar - mu ** 2 - mx.exp(logvar), axis=1))
    return rec, kl


def objective(model, x, key, beta):
    rec, kl = terms(model, x, key)
    # rec is per-descriptor; scale back to a per-sheet Gaussian NLL-ish sum
    return DESCRIPTORS * rec + beta * kl, (rec, kl)


mx.random.seed(11)
model = AromaVAE()
opt = optim.Adamax(learning_rate=3e-3)
vg = nn.value_and_grad(model, objective)

CYCLES, STEPS, RAMP, BS = 4, 160, 80, 128
gstep = 0
for cycle in range(1, CYCLES + 1):
    for step in range(STEPS):  # restarts every cycle on purpose
        beta = min(1.0, step / RAMP)
        gstep += 1
        idx = mx.array(rs.randint(0, train_s.shape[0], size=BS))
        k = mx.random.key(gstep)
        (loss, (rec, kl)), grads = vg(model, train_s[idx], k, beta)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, rec, kl)
        if step % 40 == 0 or step == STEPS - 1:
            hr, hk = terms(model, held_s, mx.random.key(999))
            print(json.dumps({
                "cycle": cycle, "step": step, "beta": round(beta, 3),
                "objective": round(loss.item(), 4),
                "rec_mse": round(rec.item(), 4), "kl_nats": round(kl.item(), 3),
                "held_rec_mse": round(hr.item(), 4), "held_kl": round(hk.item(), 3),
                "baseline_rec_mse": round(baseline_rec, 4),
            }))

# summary: active latent units (variance of posterior means across the held set)
_, mu_h, _ = model(held_s, mx.random.key(1))
act = np.var(np.array(mu_h), axis=0)
hr, hk = terms(model, held_s, mx.random.key(2))
print(json.dumps({"summary": True, "held_rec_mse": round(hr.item(), 4), "held_kl": round(hk.item(), 3),
                  "baseline_rec_mse": round(baseline_rec, 4),
                  "active_units": int((act > 0.01).sum()), "posterior_mean_var": [round(float(a), 3) for a in act]}))
