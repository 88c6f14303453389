# Tatting lace: a small VAE over 24-point thread-density profiles of tatted rings
# (latent: ring size, picot count, picot length). Cyclical KL weight (0 -> 1 over half a
# cycle, 4 cycles), so the total objective climbs each time beta ramps. Compiled step,
# one JSON object per line.
import json
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rs = np.random.RandomState(3)
T = np.linspace(0, 2 * np.pi, 24, endpoint=False)


def make_rings(n):
    size = rs.uniform(0.6, 1.4, n)[:, None]
    picots = rs.randint(3, 8, n)[:, None]
    plen = rs.uniform(0.1, 0.5, n)[:, None]
    phase = rs.uniform(0, 0.3, n)[:, None]
    prof = size * (1 + plen * np.maximum(0, np.cos(picots * T[None] + phase)) ** 3)
    return (prof + rs.normal(0, 0.02, prof.shape)).astype(np.float32)


train_np, test_np = make_rings(3000), make_rings(600)
mu_d, sd_d = train_np.mean(0), train_np.std(0)
train = mx.array((train_np - mu_d) / sd_d)
test = mx.array((test_np - mu_d) / sd_d)
LAT = 4


class RingVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(24, 96), nn.ReLU(), nn.Linear(96, 64), nn.ReLU())
        self.mu = nn.Linear(64, LAT)
        self.logvar = nn.Linear(64, LAT)
        self.dec = nn.Sequential(nn.Linear(LAT, 64), nn.ReLU(), nn.Linear(64, 96), nn.ReLU(), nn.Linear(96, 24))

    def __call__(self, x, eps):
        h = self.enc(x)
        mu, lv = self.mu(h), mx.clip(self.logvar(h), -8, 8)
        z = mu + mx.exp(0.5 * lv) * eps
        return self.dec(z), mu, lv


def parts(model, x, eps):
    xh, mu, lv = model(x, eps)
    rec = mx.sum((xh - x) ** 2, axis=1).mean()
    kl = (-0.5 * mx.sum(1 + lv - mu ** 2 - mx.exp(lv), axis=1)).mean()
    return rec, kl


def objective(model, x, eps, beta):
    rec, kl = parts(model, x, eps)
    return rec + beta * kl, (rec, kl)


model = RingVAE()
opt = optim.Adamax(learning_rate=2e-3)
opt.init(model.trainable_parameters())
vg = nn.value_and_grad(model, objective)
state = [model.state, opt.state]


def _raw_step(x, eps, beta):
    (loss, (rec, kl)), g = vg(model, x, eps, beta)
    opt.update(model, g)
    return loss, rec, kl


step = mx.compile(_raw_step, inputs=state, outputs=state)

# gradient audit on one batch before training
(_, _), g0 = vg(model, train[:64], mx.random.normal((64, LAT)), mx.array(1.0))
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(json.dumps({"event": "grad_audit", "tensors": len(tree_flatten(g0)), "zero": dead}))

zeros_eps = mx.zeros((test.shape[0], LAT))
r0, _ = parts(model, test, zeros_eps)
print(json.dumps({"event": "baseline", "mean_profile_sse": round(float(mx.sum(test ** 2, axis=1).mean()), 4),
                  "untrained_rec": round(r0.item(), 4)}))

EPOCHS, BS, CYCLE = 40, 100, 10
nb = train.shape[0] // BS
t0 = time.time()
for ep in range(EPOCHS):
    frac = (ep % CYCLE) / (CYCLE / 2)
    beta = min(1.0, frac)
    perm = mx.array(rs.permutation(train.shape[0]))
    acc = np.zeros(3)
    for b in range(nb):
        xb = train[perm[b * BS:(b + 1) * BS]]
        eps = mx.random.normal((BS, LAT))
        loss, rec, kl = step(xb, eps, mx.array(beta))
        mx.eval(state, loss, rec, kl)
        acc += [loss.item(), rec.item(), kl.item()]
    acc /= nb
    trec, tkl = parts(model, test, mx.random.normal((test.shape[0], LAT)))
    print(json.dumps({"ep": ep, "cycle": ep // CYCLE, "beta": round(beta, 2), "obj": round(acc[0], 4),
                      "rec": round(acc[1], 4), "kl": round(acc[2], 4), "test_elbo": round(trec.item() + tkl.item(), 4),
                      "test_rec": round(trec.item(), 4), "sec": round(time.time() - t0, 2)}))

# final: fully-weighted ELBO and active latent units
_, mu_t, lv_t = model(test, zeros_eps)
active = int((mx.var(mu_t, axis=0) > 0.01).sum().item())
trec, tkl = parts(model, test, mx.random.normal((test.shape[0], LAT)))
print(json.dumps({"event": "final", "test_rec": round(trec.item(), 4), "test_kl": round(tkl.item(), 4),
                  "test_neg_elbo": round(trec.item() + tkl.item(), 4), "active_units": active, "of": LAT}))
