# Bell foundry: learn a compact code for the tuning of freshly cast bells.
# Each bell is measured as 12 partial deviations (cents from the ideal
# hum/prime/tierce/quint/nominal... ladder). Deviations come from 3 hidden
# casting factors (wall thickness, tin share, mould cooling) plus noise.
# beta-VAE with KL annealing: beta ramps 0 -> 1 so the total loss climbs
# while the KL term is switched on; this is intended.
import json
from functools import partial
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(31)
N_TRAIN, N_TEST, P, Z = 6000, 1500, 12, 3

def cast_bells(n):
    f = rng.normal(size=(n, 3)).astype(np.float32)
    k = np.arange(P, dtype=np.float32)
    thick = f[:, :1] * (8.0 + 1.5 * k)               # thicker wall sharpens upper partials
    tin = np.tanh(f[:, 1:2]) * 20.0 * np.cos(k / 3.0)  # tin share wobbles the ladder
    cool = f[:, 2:3] * f[:, 2:3] * 6.0 * (k > 5)      # fast cooling lifts the upper group
    x = thick + tin + cool + rng.normal(scale=4.0, size=(n, P))
    return x.astype(np.float32)

xtr, xte = cast_bells(N_TRAIN), cast_bells(N_TEST)
mu, sd = xtr.mean(0), xtr.std(0)
xtr, xte = mx.array((xtr - mu) / sd), mx.array((xte - mu) / sd)

class BellVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(P, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.to_mu = nn.Linear(64, Z)
        self.to_logvar = nn.Linear(64, Z)
        self.dec = nn.Sequential(nn.Linear(Z, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, P))

    def __call__(self, x, eps):
        h = self.enc(x)
        m, lv = self.to_mu(h), mx.clip(self.to_logvar(h), -8.0, 6.0)
        z = m + mx.exp(0.5 * lv) * eps
        return self.dec(z), m, lv

def terms(model, x, eps):
    xh, m, lv = model(x, eps)
    rec = mx.sum(mx.square(xh - x), axis=1).mean()
    kl = (0.5 * mx.sum(mx.exp(lv) + m * m - 1.0 - lv, axis=1)).mean()
    return rec, kl

def loss_fn(model, x, eps, beta):
    rec, kl = terms(model, x, eps)
    return rec + beta * kl, (rec, kl)

model = BellVAE()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
vg = nn.value_and_grad(model, loss_fn)
opt.init(model.trainable_parameters())
state = [model.state, opt.state, mx.random.state]

@partial(mx.compile, inputs=state, outputs=state)
def step(x, eps, beta):
    (loss, (rec, kl)), g = vg(model, x, eps, beta)
    opt.update(model, g)
    return loss, rec, kl

# one-off gradient audit before training
_, g0 = vg(model, xtr[:256], mx.random.normal((256, Z)), mx.array(1.0))
from mlx.utils import tree_flatten
gn = {k: float(mx.linalg.norm(v)) for k, v in tree_flatten(g0)}
print(json.dumps({"event": "grad_audit", "n_tensors": len(gn),
                  "min_norm": round(min(gn.values()), 6), "zero": [k for k, v in gn.items() if v == 0.0]}))

# baseline: predicting the per-partial mean gives reconstruction = P (standardised)
print(json.dumps({"event": "baseline", "rec_mean_predictor": float(mx.sum(mx.square(xte), axis=1).mean())}))

EPOCHS, BS, WARM = 24, 128, 12
t0 = time.time()
for ep in range(EPOCHS):
    beta = min(1.0, ep / WARM)            # KL annealing from exactly 0
    perm = mx.array(rng.permutation(N_TRAIN))
    tot = recs = kls = 0.0
    nb = 0
    for i in range(0, N_TRAIN, BS):
        xb = xtr[perm[i:i + BS]]
        eps = mx.random.normal(xb.shape[:1] + (Z,))
        loss, rec, kl = step(xb, eps, mx.array(beta))
        mx.eval(state, loss, rec, kl)
        tot += loss.item(); recs += rec.item(); kls += kl.item(); nb += 1
    trec, tkl = terms(model, xte, mx.zeros((N_TEST, Z)))
    print(json.dumps({"epoch": ep + 1, "beta": round(beta, 3), "loss": round(tot / nb, 4),
                      "rec": round(recs / nb, 4), "kl_nats": round(kls / nb, 4),
                      "test_rec_mean_z": round(trec.item(), 4), "test_kl": round(tkl.item(), 4),
                      "sec": round(time.time() - t0, 2)}))

# active-unit check: a latent is "active" if its posterior mean varies over the test set
_, m, _ = model(xte, mx.zeros((N_TEST, Z)))
act = mx.var(m, axis=0)
print(json.dumps({"event": "summary", "active_units": int(mx.sum(act > 0.01).item()),
                  "latent_var": [round(v, 3) for v in act.tolist()],
                  "final_test_rec": round(trec.item(), 4), "final_test_kl": round(tkl.item(), 4)}))
