"""Amigurumi pattern VAE.

An amigurumi (crocheted toy) part is described by its stitch count per round:
a sphere grows 6, 12, 18 ... then holds, then shrinks; a cone grows slowly;
a cylinder grows fast then holds; an egg is a lopsided sphere.  We learn a
2-d latent space of 16-round patterns with a small VAE.  The KL weight (beta)
is annealed from 0 to 1, so the total objective climbs while beta ramps up
before it settles; reconstruction is reported in stitches per round.
"""
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

random.seed(11)
mx.random.seed(11)
ROUNDS = 16
SCALE = 60.0   # stitches -> model units
SIGMA = 0.05   # decoder noise, model units (= 3 stitches)


def pattern(kind):
    inc = random.choice([5, 6, 6, 6, 7, 8])
    rows = []
    if kind == "sphere":
        grow = random.randint(4, 7)
        hold = random.randint(3, 6)
        s = 0
        for r in range(ROUNDS):
            if r < grow:
                s += inc
            elif r >= grow + hold:
                s = max(inc, s - inc)
            rows.append(s)
    elif kind == "cone":
        s = inc // 2
        for r in range(ROUNDS):
            s += inc // 2 if r % random.choice([2, 3]) == 0 else 0
            rows.append(s)
    elif kind == "cylinder":
        grow = random.randint(2, 5)
        s = 0
        for r in range(ROUNDS):
            if r < grow:
                s += inc
            rows.append(s)
    else:  # egg
        grow = random.randint(5, 8)
        s = 0
        for r in range(ROUNDS):
            if r < grow:
                s += inc if r % 2 == 0 or r < 3 else inc // 2
            elif r > grow + 3:
                s = max(inc, s - inc)
            rows.append(s)
    return [x + random.gauss(0, 0.5) for x in rows]


KINDS = ["sphere", "cone", "cylinder", "egg"]
data = [pattern(random.choice(KINDS)) for _ in range(1536)]
X = mx.array(data) / SCALE


class PatternVAE(nn.Module):
    def __init__(self, d=ROUNDS, h=48, z=2):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU())
        self.mu = nn.Linear(h, z)
        self.logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(),
                                 nn.Linear(h, d))

    def __call__(self, x, eps):
        e = self.enc(x)
        mu, lv = self.mu(e), self.logvar(e)
        zs = mu + mx.exp(0.5 * lv) * eps
        return self.dec(zs), mu, lv


def terms(model, x, eps):
    xh, mu, lv = model(x, eps)
    recon = (0.5 * mx.sum((xh - x) ** 2, axis=-1) / SIGMA ** 2).mean()
    kl = (-0.5 * mx.sum(1 + lv - mu ** 2 - mx.exp(lv), axis=-1)).mean()
    return recon, kl


def objective(model, x, eps, beta):
    recon, kl = terms(model, x, eps)
    return recon + beta * kl, (recon, kl)


model = PatternVAE()
mx.eval(model.parameters())
opt = optim.RMSprop(learning_rate=1.5e-3, alpha=0.95)
vg = nn.value_and_grad(model, objective)

# one-off audit: every tensor gets a gradient once beta > 0
(_, _), g0 = vg(model, X[:64], mx.random.normal((64, 2)), mx.array(0.5))
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(f"audit  grad tensors={len(tree_flatten(g0))}  zero={dead or 'none'}")

state = [model.state, opt.state]


from functools import partial


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, eps, beta):
    (tot, (rec, kl)), grads = vg(model, x, eps, beta)
    opt.update(model, grads)
    return tot, rec, kl


EPOCHS = 120
ANNEAL = 50
B = 96
hdr = f"{'ep':>4} | {'beta':>5} | {'recon':>9} | {'kl':>7} | {'elbo_obj':>9} | {'st/round':>8} | {'iid_ref':>7}"
ref = math.sqrt(float(mx.mean((X - X.mean(axis=0)) ** 2))) * SCALE
for ep in range(EPOCHS):
    beta = min(1.0, ep / ANNEAL)
    perm = mx.random.permutation(X.shape[0])
    s_tot = s_rec = s_kl = 0.0
    nb = X.shape[0] // B
    for i in range(nb):
        xb = X[perm[i * B:(i + 1) * B]]
        eps = mx.random.normal((B, 2))
        tot, rec, kl = train_step(xb, eps, mx.array(beta))
        mx.eval(tot, rec, kl, state)
        s_tot += tot.item(); s_rec += rec.item(); s_kl += kl.item()
    if ep % 30 == 0:
        print(hdr)
        print("-" * len(hdr))
    if ep % 5 == 0 or ep == EPOCHS - 1:
        r = s_rec / nb
        per_round = math.sqrt(2 * r * SIGMA ** 2 / ROUNDS) * SCALE
        print(f"{ep:>4} | {beta:>5.2f} | {r:>9.3f} | {s_kl / nb:>7.3f} | {s_tot / nb:>9.3f} | "
              f"{per_round:>8.2f} | {ref:>7.2f}")

# final: posterior-mean reconstruction error in stitches
xh, mu, lv = model(X, mx.zeros((X.shape[0], 2)))
err = float(mx.sqrt(mx.mean((xh - X) ** 2))) * SCALE
print(f"final  rmse={err:.2f} stitches/round  (per-round spread of data {ref:.2f})  "
      f"latent_std={float(mx.std(mu)):.3f}")
