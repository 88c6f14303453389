"""Parachute drop-test rig: learn a small latent model of canopy-opening
deceleration traces (20 samples, in g) with a VAE.  The KL weight beta is
warmed from 0 to 1 and the learning rate from exactly 0, so the total loss
goes UP for a while before it settles."""
import json
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
T = 20
t = np.linspace(0.0, 2.0, T)


def make_traces(n):
    peak = rng.uniform(3.0, 9.0, n)[:, None]          # peak shock (g)
    t_open = rng.uniform(0.3, 1.1, n)[:, None]        # time of inflation (s)
    width = rng.uniform(0.08, 0.25, n)[:, None]
    reef = rng.random(n)[:, None] < 0.4                # reefed canopies: two humps
    hump1 = peak * np.exp(-0.5 * ((t - t_open) / width) ** 2)
    hump2 = 0.6 * peak * np.exp(-0.5 * ((t - t_open - 0.45) / width) ** 2)
    x = 1.0 + hump1 + reef * hump2 + 0.15 * rng.standard_normal((n, T))
    return x.astype(np.float32)


train_np, test_np = make_traces(6000), make_traces(1000)
mu_np, sd_np = train_np.mean(0), train_np.std(0)
train = mx.array((train_np - mu_np) / sd_np)
test = mx.array((test_np - mu_np) / sd_np)


class TraceVAE(nn.Module):
    def __init__(self, d=T, h=64, z=4):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU())
        self.to_mu = nn.Linear(h, z)
        self.to_logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, d))

    def __call__(self, x, key):
        h = self.enc(x)
        m, lv = self.to_mu(h), mx.clip(self.to_logvar(h), -8.0, 6.0)
        z = m + mx.exp(0.5 * lv) * mx.random.normal(m.shape, key=key)
        return self.dec(z), m, lv


def parts(model, x, key):
    xh, m, lv = model(x, key)
    rec = mx.mean(mx.sum(mx.square(xh - x), axis=1))
    kl = mx.mean(-0.5 * mx.sum(1 + lv - mx.square(m) - mx.exp(lv), axis=1))
    return rec, kl


def loss_fn(model, x, key, beta):
    rec, kl = parts(model, x, key)
    return rec + beta * kl, (rec, kl)


model = TraceVAE()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=0.0)
step_fn = nn.value_and_grad(model, loss_fn)

EPOCHS, BS = 24, 128
nb = train.shape[0] // BS
WARM_LR_STEPS, PEAK_LR = 2 * nb, 4e-3
BETA_EPOCHS = 10
key = mx.random.key(11)
gstep = 0
# baseline: predicting the mean trace costs T per sample in standardised units
print(json.dumps({"event": "start", "n_train": int(train.shape[0]), "latent": 4,
                  "baseline_rec_mean_trace": float(T)}))
for ep in range(EPOCHS):
    beta = min(1.0, ep / BETA_EPOCHS)
    perm = mx.array(rng.permutation(train.shape[0]))
    tot_l = tot_r = tot_k = 0.0
    for b in range(nb):
        opt.learning_rate = PEAK_LR * min(1.0, gstep / WARM_LR_STEPS)
        key, sub = mx.random.split(key)
        xb = train[perm[b * BS:(b + 1) * BS]]
        (l, (r, k)), g = step_fn(model, xb, sub, beta)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, l, r, k)
        tot_l += l.item(); tot_r += r.item(); tot_k += k.item()
        gstep += 1
    key, sub = mx.random.split(key)
    tr, tk = parts(model, test, sub)
    print(json.dumps({"epoch": ep, "beta": round(beta, 2), "lr": round(float(opt.learning_rate.item()), 5),
                      "loss": round(tot_l / nb, 3), "rec": round(tot_r / nb, 3), "kl": round(tot_k / nb, 3),
                      "test_rec": round(tr.item(), 3), "test_kl": round(tk.item(), 3),
                      "test_elbo": round(tr.item() + tk.item(), 3)}))

# audit: every trainable tensor got gradient
key, sub = mx.random.split(key)
(_, _), g = step_fn(model, train[:256], sub, 1.0)
from mlx.utils import tree_flatten
norms = {k: float(mx.linalg.norm(v.reshape(-1)).item()) for k, v in tree_flatten(g)}
print(json.dumps({"event": "grad_audit", "min_norm": round(min(norms.values()), 6),
                  "n_tensors": len(norms)}))
