# Marble-run speed traces: learn a small latent model of how marbles roll.
# Each trace is 24 speed readings from light gates along a wooden marble run.
# We fit a beta-VAE; beta is warmed up from 0 to 1 so the KL term is phased in.
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

rng = np.random.default_rng(7)
mx.random.seed(7)
T = 24


def make_traces(n):
    t = np.arange(T) / T
    slope = rng.uniform(0.5, 1.5, size=(n, 1))
    fric = rng.uniform(0.2, 1.2, size=(n, 1))
    bump_at = rng.uniform(0.25, 0.8, size=(n, 1))
    base = slope * np.sqrt(t + 0.02) * np.exp(-fric * t)
    bump = -0.35 * slope * np.exp(-((t - bump_at) ** 2) / 0.004)  # loop-the-loop slowdown
    noise = 0.02 * rng.standard_normal((n, T))
    return (base + bump + noise).astype(np.float32)


train = mx.array(make_traces(4000))
valid = mx.array(make_traces(800))


class TraceVAE(nn.Module):
    def __init__(self, d=T, h=64, z=4):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.GELU(), nn.Linear(h, h), nn.GELU())
        self.to_mu = nn.Linear(h, z)
        self.to_logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.GELU(), nn.Linear(h, h), nn.GELU(), nn.Linear(h, d))

    def __call__(self, x, eps):
        hid = self.enc(x)
        mu, logvar = self.to_mu(hid), self.to_logvar(hid)
        z = mu + mx.exp(0.5 * logvar) * eps
        return self.dec(z), mu, logvar


def parts(model, x, eps):
    xhat, mu, logvar = model(x, eps)
    recon = mx.sum((xhat - x) ** 2, axis=1).mean() / (2 * 0.02 ** 2) / T  # per reading, scaled
    kl = (-0.5 * mx.sum(1 + logvar - mu ** 2 - mx.exp(logvar), axis=1)).mean()
    return recon, kl


def objective(model, x, eps, beta):
    recon, kl = parts(model, x, eps)
    return recon + beta * kl, (recon, kl)


model = TraceVAE()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
grad_fn = nn.value_and_grad(model, objective)

BATCH = 100
steps_per_epoch = train.shape[0] // BATCH
ANNEAL_EPOCHS = 8
MAX_EPOCHS = 40
PATIENCE = 5

# baseline: predict the mean training trace for every marble
mean_trace = train.mean(axis=0)
base_recon = (mx.sum((valid - mean_trace) ** 2, axis=1).mean() / (2 * 0.02 ** 2) / T).item()

best, best_ep, best_params, waited = math.inf, -1, None, 0
t0 = time.time()
step = 0
for ep in range(MAX_EPOCHS):
    perm = mx.array(rng.permutation(train.shape[0]))
    tot = rec_sum = kl_sum = 0.0
    for i in range(steps_per_epoch):
        beta = min(1.0, step / (ANNEAL_EPOCHS * steps_per_epoch))
        xb = train[perm[i * BATCH:(i + 1) * BATCH]]
        eps = mx.random.normal((BATCH, 4))
        (loss, (rec, kl)), grads = grad_fn(model, xb, eps, mx.array(beta))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, rec, kl)
        tot += loss.item(); rec_sum += rec.item(); kl_sum += kl.item()
        step += 1
    v_rec, v_kl = parts(model, valid, mx.random.normal((valid.shape[0], 4)))
    val_elbo = (v_rec + v_kl).item()
    row = {"ep": ep, "beta": round(beta, 3), "loss": round(tot / steps_per_epoch, 3),
           "recon": round(rec_sum / steps_per_epoch, 3), "kl": round(kl_sum / steps_per_epoch, 3),
           "val_neg_elbo": round(val_elbo, 3), "val_recon": round(v_rec.item(), 3)}
    if beta >= 1.0:
        if val_elbo < best - 1e-3:
            best, best_ep, waited = val_elbo, ep, 0
            best_params = tree_map(lambda p: mx.array(p), model.parameters())
            row["note"] = "best"
        else:
            waited += 1
            if waited >= PATIENCE:
                row["note"] = "early-stop"
                print(json.dumps(row), flush=True)
                break
    print(json.dumps(row), flush=True)

if best_params is not None:
    model.update(best_params)
    mx.eval(model.parameters())
v_rec, v_kl = parts(model, valid, mx.zeros((valid.shape[0], 4)))
n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(json.dumps({"summary": "restored", "best_ep": best_ep, "val_neg_elbo_best": round(best, 3),
                  "val_recon_restored": round(v_rec.item(), 3), "val_kl_restored": round(v_kl.item(), 3),
                  "baseline_mean_trace_recon": round(base_recon, 3), "params": n_params,
                  "seconds": round(time.time() - t0, 1)}))
