"""Nest-box thermal logger VAE.

Each trace is one day of a nest-box iButton: 48 half-hour readings (deg C).
Ambient follows a day/night sine, and while the hen sits the box warms in
plateaus (incubation bouts).  A small VAE learns a 4-d summary of a day.
KL weight is annealed CYCLICALLY (Fu et al. 2019): 4 cycles, beta ramps 0->1
over the first half of each cycle and then holds, so the logged objective
jumps up at every ramp.  One JSON object per epoch on stdout.
"""
import json, math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial
from mlx.utils import tree_flatten

rng = np.random.default_rng(2024)
T, Z = 48, 4

def make_days(n):
    t = np.arange(T) / 2.0                          # hours
    amb_mean = rng.uniform(6, 18, (n, 1))
    amb_amp = rng.uniform(2, 7, (n, 1))
    phase = rng.uniform(13, 16, (n, 1))
    temp = amb_mean + amb_amp * np.cos(2 * np.pi * (t - phase) / 24)
    sitting = np.zeros((n, T))
    n_bouts = rng.integers(0, 5, n)
    for i in range(n):
        for _ in range(n_bouts[i]):
            s = rng.integers(0, T - 4); d = rng.integers(3, 12)
            sitting[i, s:s + d] = 1.0
    # box relaxes towards 30 C while the hen sits (first-order lag)
    box = np.empty_like(temp); box[:, 0] = temp[:, 0]
    for k in range(1, T):
        target = np.where(sitting[:, k] > 0, 30.0, temp[:, k])
        box[:, k] = box[:, k - 1] + 0.45 * (target - box[:, k - 1])
    box += rng.normal(0, 0.4, box.shape)
    return box.astype(np.float32)

train_np, val_np = make_days(3000), make_days(600)
mu_, sd_ = train_np.mean(), train_np.std()
train = mx.array((train_np - mu_) / sd_)
val = mx.array((val_np - mu_) / sd_)

class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(T, 96), nn.SiLU(), nn.Linear(96, 64), nn.SiLU())
        self.mu = nn.Linear(64, Z)
        self.logvar = nn.Linear(64, Z)
        self.dec = nn.Sequential(nn.Linear(Z, 64), nn.SiLU(), nn.Linear(64, 96), nn.SiLU(), nn.Linear(96, T))

    def __call__(self, x, key=None):
        h = self.enc(x)
        mu, lv = self.mu(h), mx.clip(self.logvar(h), -8, 6)
        z = mu + mx.exp(0.5 * lv) * mx.random.normal(mu.shape, key=key)
        return self.dec(z), mu, lv

def terms(model, x, key):
    xh, mu, lv = model(x, key)
    recon = 0.5 * ((xh - x) ** 2).sum(-1).mean()          # unit-variance Gaussian, nats (no const)
    kl = (-0.5 * (1 + lv - mu ** 2 - mx.exp(lv))).sum(-1).mean()
    return recon, kl

def objective(model, x, key, beta):
    r, k = terms(model, x, key)
    return r + beta * k, (r, k)

EPOCHS, CYCLES, BS = 40, 4, 100
steps_per_epoch = train.shape[0] // BS
total = EPOCHS * steps_per_epoch
warm = steps_per_epoch * 2
lr = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, warm),
                           optim.cosine_decay(2e-3, total - warm, 1e-4)], [warm])
model = VAE()
opt = optim.AdamW(learning_rate=lr, weight_decay=1e-4)
state = [model.state, opt.state, mx.random.state]
vg = nn.value_and_grad(model, objective)

@partial(mx.compile, inputs=state, outputs=state)
def step(x, beta):
    (loss, (r, k)), g = vg(model, x, None, beta)
    opt.update(model, g)
    return loss, r, k

def beta_at(epoch):
    pos = (epoch % (EPOCHS // CYCLES)) / (EPOCHS // CYCLES)
    return min(1.0, pos / 0.5)

def evaluate():
    r, k = terms(model, val, mx.random.key(99))
    return r.item(), k.item()

best, best_w, best_ep = float("inf"), None, -1
t0 = time.time()
for epoch in range(EPOCHS):
    beta = beta_at(epoch)
    perm = mx.array(rng.permutation(train.shape[0]))
    acc = np.zeros(3)
    for b in range(steps_per_epoch):
        idx = perm[b * BS:(b + 1) * BS]
        loss, r, k = step(train[idx], mx.array(beta))
        mx.eval(state, loss, r, k)
        acc += [loss.item(), r.item(), k.item()]
    acc /= steps_per_epoch
    vr, vk = evaluate()
    velbo = vr + vk                                            # full (beta=1) negative ELBO
    rec = {"cycle": epoch // (EPOCHS // CYCLES) + 1, "ep": epoch % (EPOCHS // CYCLES) + 1,
           "beta": round(beta, 2), "lr": float(f"{opt.learning_rate.item():.2e}"),
           "obj": round(float(acc[0]), 3), "recon": round(float(acc[1]), 3), "kl": round(float(acc[2]), 3),
           "val_negelbo": round(velbo, 3), "val_recon_rmse_C": round(math.sqrt(2 * vr / T) * float(sd_), 3)}
    if beta >= 1.0 and velbo < best:
        best, best_ep = velbo, epoch
        best_w = [(n, mx.array(p)) for n, p in tree_flatten(model.parameters())]
        rec["best"] = True
    print(json.dumps(rec), flush=True)

model.load_weights(best_w)
vr, vk = evaluate()
print(json.dumps({"restored_epoch": best_ep + 1, "val_negelbo": round(vr + vk, 3),
                  "val_recon_rmse_C": round(math.sqrt(2 * vr / T) * float(sd_), 3),
                  "baseline_rmse_C_mean_day": round(float(np.sqrt(((val_np - train_np.mean(0)) ** 2).mean())), 3),
                  "wall_s": round(time.time() - t0, 1)}))
