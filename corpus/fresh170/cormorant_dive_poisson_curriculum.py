"""Cormorant fishing log: how many fish does a trained cormorant bring up per dive?

Poisson regression (log-rate MLP) over synthetic river-trip features. Two stages:
  stage "clear"  -> only dives in clear water (turbidity < 0.5)
  stage "murky"  -> all dives, murky ones included (harder, noisier; loss jumps up first)
Epoch counter restarts at every stage. A constant-rate baseline deviance is printed
beside the model so that the numbers have something to compare with.
"""
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(2171)
mx.random.seed(2171)
N = 6000
water_temp = rng.uniform(8, 26, N)          # deg C
turbidity = rng.beta(2, 2.5, N)            # 0 clear .. 1 murky
depth = rng.uniform(0.5, 4.0, N)           # metres
hour = rng.uniform(5, 21, N)               # time of day
bird_age = rng.integers(1, 12, N)          # years in service
ring_snug = rng.uniform(0, 1, N)           # neck ring tightness

log_rate = (0.35
            + 0.05 * (water_temp - 17)
            - 1.6 * turbidity ** 2
            + 0.25 * np.sin((hour - 6) / 15 * math.pi)
            - 0.18 * (depth - 2.0) ** 2
            + 0.12 * np.minimum(bird_age, 7) - 0.04 * np.maximum(bird_age - 7, 0)
            + 0.5 * ring_snug * (1 - turbidity))
fish = rng.poisson(np.exp(log_rate))

X = np.stack([(water_temp - 17) / 5, turbidity * 2 - 1, (depth - 2.25) / 1.0,
              np.sin(hour / 24 * 2 * math.pi), np.cos(hour / 24 * 2 * math.pi),
              (bird_age - 6) / 3, ring_snug * 2 - 1], axis=1).astype(np.float32)
y = fish.astype(np.float32)

perm = rng.permutation(N)
tr, va = perm[:4800], perm[4800:]
Xtr, ytr, Xva, yva = X[tr], y[tr], X[va], y[va]
clear_tr = turbidity[tr] < 0.5


class DiveRate(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 32)
        self.l2 = nn.Linear(32, 32)
        self.out = nn.Linear(32, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)  # log rate


def poisson_dev(log_mu, k):
    # mean Poisson deviance: 2 * (k log(k/mu) - (k - mu))
    mu = mx.exp(log_mu)
    term = mx.where(k > 0, k * (mx.log(mx.maximum(k, 1e-8)) - log_mu), 0.0)
    return 2.0 * mx.mean(term - (k - mu))


def loss_fn(model, xb, yb):
    lm = model(xb)
    return mx.mean(mx.exp(lm) - yb * lm)  # Poisson NLL up to a constant


def baseline_dev(ytrain, yeval):
    mu = float(np.mean(ytrain))
    lm = mx.full((len(yeval),), math.log(mu))
    return poisson_dev(lm, mx.array(yeval)).item()


model = DiveRate()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)
step_fn = nn.value_and_grad(model, loss_fn)

# one-off audit: every weight must receive gradient
_, g0 = step_fn(model, mx.array(Xtr[:256]), mx.array(ytr[:256]))
from mlx.utils import tree_flatten
for name, g in tree_flatten(g0):
    print(f"audit grad |{name:<12}| = {mx.linalg.norm(g).item():.4e}")

stages = [("clear", np.where(clear_tr)[0], 16), ("murky", np.arange(len(tr)), 24)]
Xva_m, yva_m = mx.array(Xva), mx.array(yva)
print()
print(f"{'stage':<6}|{'ep':>3} |{'train nll':>10} |{'val dev':>9} |{'const dev':>10} |{'ratio':>7}")
print("-" * 56)
for sname, idx, n_ep in stages:
    base = baseline_dev(ytr[idx], yva)
    for ep in range(1, n_ep + 1):
        order = rng.permutation(idx)
        tot, nb = 0.0, 0
        for s in range(0, len(order), 64):
            b = order[s:s + 64]
            loss, grads = step_fn(model, mx.array(Xtr[b]), mx.array(ytr[b]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); nb += 1
        vdev = poisson_dev(model(Xva_m), yva_m).item()
        print(f"{sname:<6}|{ep:>3} |{tot / nb:>10.4f} |{vdev:>9.4f} |{base:>10.4f} |{vdev / base:>7.3f}")
    print("-" * 56)

pred = np.exp(np.array(model(Xva_m)))
print(f"summary: val mean fish/dive observed {yva.mean():.3f}, predicted {pred.mean():.3f}; "
      f"murky half ({(turbidity[va] >= 0.5).mean() * 100:.0f}% of val) "
      f"dev {poisson_dev(model(mx.array(Xva[turbidity[va] >= 0.5])), mx.array(yva[turbidity[va] >= 0.5])).item():.4f}")
