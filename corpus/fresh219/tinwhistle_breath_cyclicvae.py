# Tin-whistle note spectra: a small beta-VAE with cyclic KL annealing.
# Each sample is a 32-bin magnitude spectrum of one whistled note (fundamental
# + a few harmonics + breath noise). Beta restarts at 0 every cycle, so the
# total objective climbs while beta ramps up; that is intended.
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
BINS = 32
LATENT = 4
N_TRAIN, N_HOLD = 1536, 256
SIGMA = 0.1


def make_notes(n, key):
    k1, k2, k3, k4 = mx.random.split(key, 4)
    pitch = mx.random.uniform(2.0, 9.0, (n, 1), key=k1)          # fundamental bin
    breath = mx.random.uniform(0.02, 0.25, (n, 1), key=k2)       # breathiness
    bright = mx.random.uniform(0.3, 0.9, (n, 1), key=k3)         # harmonic decay
    bins = mx.arange(BINS).reshape(1, BINS).astype(mx.float32)
    spec = mx.zeros((n, BINS))
    for h in range(1, 5):
        amp = bright ** (h - 1)
        spec = spec + amp * mx.exp(-0.5 * ((bins - h * pitch) / 0.7) ** 2)
    spec = spec + breath * (0.5 + 0.5 * mx.random.uniform(shape=(n, BINS), key=k4))
    return spec


class WhistleVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(BINS, 64), nn.SiLU(), nn.Linear(64, 32), nn.SiLU())
        self.mu = nn.Linear(32, LATENT)
        self.logvar = nn.Linear(32, LATENT)
        self.dec = nn.Sequential(nn.Linear(LATENT, 32), nn.SiLU(), nn.Linear(32, 64), nn.SiLU(),
                                 nn.Linear(64, BINS))

    def __call__(self, x, key):
        h = self.enc(x)
        mu, logvar = self.mu(h), self.logvar(h)
        eps = mx.random.normal(mu.shape, key=key)
        z = mu + mx.exp(0.5 * logvar) * eps
        return self.dec(z), mu, logvar


def terms(model, x, key):
    recon, mu, logvar = model(x, key)
    rec = (mx.sum((recon - x) ** 2, axis=1) / (2 * SIGMA ** 2)).mean()   # Gaussian NLL, nats (up to a constant)
    kl = (-0.5 * mx.sum(1 + logvar - mu ** 2 - mx.exp(logvar), axis=1)).mean()
    return rec, kl


def objective(model, x, key, beta):
    rec, kl = terms(model, x, key)
    return rec + beta * kl, (rec, kl)


train = make_notes(N_TRAIN, mx.random.key(11))
hold = make_notes(N_HOLD, mx.random.key(12))
mx.eval(train, hold)

model = WhistleVAE()
mx.eval(model.parameters())
STEPS, BATCH, CYCLES = 1500, 64, 3
warm = optim.linear_schedule(0.0, 2e-3, 100)          # starts at exactly 0
decay = optim.cosine_decay(2e-3, STEPS - 100, 2e-4)
opt = optim.Adam(learning_rate=optim.join_schedules([warm, decay], [100]))

vg = nn.value_and_grad(model, lambda m, x, k, b: objective(m, x, k, b))

cycle_len = STEPS // CYCLES
t0 = time.time()
key = mx.random.key(99)
for step in range(STEPS):
    pos = step % cycle_len
    beta = min(1.0, pos / (0.5 * cycle_len))             # 0 -> 1 over half a cycle, then hold
    key, kb, kn = mx.random.split(key, 3)
    idx = mx.random.randint(0, N_TRAIN, (BATCH,), key=kb)
    (loss, (rec, kl)), grads = vg(model, train[idx], kn, mx.array(beta))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, rec, kl)
    if step == 0:
        gnorms = {k: float(mx.sqrt(mx.sum(v * v))) for k, v in
                  __import__("mlx.utils", fromlist=["tree_flatten"]).tree_flatten(grads)}
        zero = [k for k, v in gnorms.items() if v == 0.0]
        print(json.dumps({"event": "grad_audit", "n_tensors": len(gnorms), "zero_grad": zero}))
    if step % 75 == 0 or step == STEPS - 1:
        hrec, hkl = terms(model, hold, mx.random.key(5))
        rec_per_bin = SIGMA * math.sqrt(2 * float(hrec) / BINS)   # back to spectrum units
        print(json.dumps({
            "step": step, "cycle": step // cycle_len + 1, "beta": round(beta, 3),
            "lr": round(float(opt.learning_rate), 6),
            "elbo_loss": round(float(loss), 4), "recon": round(float(rec), 4), "kl_nats": round(float(kl), 4),
            "holdout": {"recon": round(float(hrec), 4), "kl": round(float(hkl), 4),
                        "rms_per_bin": round(rec_per_bin, 4)},
        }))

hrec, hkl = terms(model, hold, mx.random.key(5))
baseline = float((mx.sum((hold - train.mean(axis=0)) ** 2, axis=1) / (2 * SIGMA ** 2)).mean())
print(json.dumps({"event": "summary", "secs": round(time.time() - t0, 2),
                  "holdout_recon": round(float(hrec), 4), "mean_spectrum_baseline": round(baseline, 4),
                  "holdout_kl": round(float(hkl), 4),
                  "recon_vs_baseline_pct": round(100.0 * float(hrec) / baseline, 1)}))
