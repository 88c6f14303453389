# Croquet lawn study: compress 24-sample ball-speed traces (a ball rolled across
# the lawn, slowing by rolling friction, with a little bump where it clips a hoop)
# into a 3-d latent with a VAE.  KL weight follows a cyclical schedule (3 cycles,
# beta ramps 0 -> 1 over the first half of every cycle, then holds), so the
# objective climbs every time a cycle begins again.  LR warms up from exactly 0.
import json
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(11)
T = 24
t = np.linspace(0.0, 1.0, T, dtype=np.float32)


def make_traces(n):
    v0 = rng.uniform(1.5, 3.5, size=(n, 1))        # mallet strike speed, m/s
    mu = rng.uniform(0.8, 2.2, size=(n, 1))        # lawn friction (cut height)
    hoop_at = rng.uniform(0.2, 0.8, size=(n, 1))   # when it clips the hoop
    bump = rng.uniform(0.0, 0.5, size=(n, 1))
    speed = np.maximum(v0 - mu * t * v0 * 0.9, 0.05)
    speed -= bump * np.exp(-((t - hoop_at) ** 2) / 0.004)
    speed += rng.normal(0, 0.04, size=speed.shape)
    return speed.astype(np.float32)


train_np, val_np = make_traces(4096), make_traces(512)
mu_, sd_ = train_np.mean(0), train_np.std(0) + 1e-6
train = mx.array((train_np - mu_) / sd_)
val = mx.array((val_np - mu_) / sd_)


class TraceVAE(nn.Module):
    def __init__(self, d=T, h=64, z=3):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU())
        self.to_mu = nn.Linear(h, z)
        self.to_logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, d))

    def __call__(self, x, key):
        hid = self.enc(x)
        m, lv = self.to_mu(hid), mx.clip(self.to_logvar(hid), -8.0, 6.0)
        eps = mx.random.normal(m.shape, key=key)
        z = m + mx.exp(0.5 * lv) * eps
        return self.dec(z), m, lv


def terms(model, x, key):
    xr, m, lv = model(x, key)
    rec = mx.sum((xr - x) ** 2, axis=1).mean()
    kl = (-0.5 * mx.sum(1 + lv - m * m - mx.exp(lv), axis=1)).mean()
    return rec, kl


def objective(model, x, key, beta):
    rec, kl = terms(model, x, key)
    return rec + beta * kl, (rec, kl)


model = TraceVAE()
mx.eval(model.parameters())

CYCLES, ITERS_PER_CYCLE, BATCH = 3, 200, 128
TOTAL = CYCLES * ITERS_PER_CYCLE
warm = optim.linear_schedule(0.0, 2e-3, 60)
lr = optim.join_schedules([warm, optim.cosine_decay(2e-3, TOTAL - 60, 2e-4)], [60])
opt = optim.AdamW(learning_rate=lr, weight_decay=1e-4)

grad_fn = nn.value_and_grad(model, objective)

# what "no latent at all" costs: predicting the mean trace for every ball
baseline_rec = float(mx.sum(val ** 2, axis=1).mean())
print(json.dumps({"event": "start", "n_train": train.shape[0], "T": T,
                  "mean_trace_rec": round(baseline_rec, 3)}))

key = mx.random.key(3)
for it in range(TOTAL):
    cyc, pos = divmod(it, ITERS_PER_CYCLE)
    beta = min(1.0, pos / (0.5 * ITERS_PER_CYCLE))
    key, k_idx, k_eps = mx.random.split(key, 3)
    idx = mx.random.randint(0, train.shape[0], (BATCH,), key=k_idx)
    (loss, (rec, kl)), grads = grad_fn(model, train[idx], k_eps, beta)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if pos % 40 == 0 or pos == ITERS_PER_CYCLE - 1:
        vr, vk = terms(model, val, mx.random.key(100 + it))
        print(json.dumps({"cyc": cyc, "it": pos, "beta": round(beta, 3),
                          "lr": float(f"{opt.learning_rate.item():.2e}"),
                          "obj": round(loss.item(), 4), "rec": round(rec.item(), 4),
                          "kl": round(kl.item(), 4),
                          "val_neg_elbo": round((vr + vk).item(), 4)}))

vr, vk = terms(model, val, mx.random.key(999))
print(json.dumps({"event": "done", "val_rec": round(vr.item(), 4), "val_kl": round(vk.item(), 4),
                  "val_neg_elbo": round((vr + vk).item(), 4),
                  "mean_trace_rec": round(baseline_rec, 3)}))
