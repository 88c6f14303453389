"""Avalanche danger level (1..5) from synthetic snowpack/weather observations.

Cumulative-link ordinal regression: one scalar risk score from a small tanh MLP and four
ordered cut-points (first cut + cumulative softplus gaps). Negative log-likelihood of the
observed level. SGD with Nesterov momentum; an exponential moving average (Polyak) copy of
the weights is used for validation. The report is a PlantUML sequence diagram, printed
at the end.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)


def make(n):
    new_snow = rng.gamma(1.5, 18.0, n)            # cm in 72 h
    wind = rng.gamma(2.0, 6.0, n)                 # m/s
    temp_rise = rng.normal(0.0, 4.0, n)           # K over 24 h
    weak_layer = rng.binomial(1, 0.35, n)         # buried surface hoar present
    slope = rng.uniform(25, 45, n)                # degrees
    rain = rng.binomial(1, 0.12, n)
    latent = (0.035 * new_snow + 0.06 * wind * (new_snow > 10) + 0.12 * np.maximum(temp_rise, 0)
              + 1.1 * weak_layer + 0.05 * (slope - 35) + 1.2 * rain + rng.logistic(0, 0.45, n))
    level = np.digitize(latent, [1.2, 2.3, 3.4, 4.6])  # 0..4
    X = np.stack([np.log1p(new_snow), np.log1p(wind), temp_rise, weak_layer, slope, rain], 1)
    return X.astype(np.float32), level.astype(np.int32)


Xtr, ytr = make(9000)
Xva, yva = make(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr, ytr_mx = mx.array(Xtr), mx.array(ytr)
Xva_mx = mx.array(Xva)
K = 5


class OrdinalNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 40)
        self.l2 = nn.Linear(40, 40)
        self.score = nn.Linear(40, 1)
        self.cut0 = mx.array([-1.5])
        self.gaps = mx.zeros((K - 2,))

    def cuts(self):
        return mx.concatenate([self.cut0, self.cut0 + mx.cumsum(nn.softplus(self.gaps) + 1e-3)])

    def __call__(self, x):
        h = mx.tanh(self.l1(x))
        h = mx.tanh(self.l2(h))
        s = self.score(h)                           # (B, 1)
        cdf = mx.sigmoid(self.cuts()[None, :] - s)  # P(level <= k), k = 0..3
        ones = mx.ones((x.shape[0], 1))
        zeros = mx.zeros((x.shape[0], 1))
        upper = mx.concatenate([cdf, ones], 1)
        lower = mx.concatenate([zeros, cdf], 1)
        return upper - lower                        # (B, 5) level probabilities


def nll(model, x, y):
    p = model(x)
    py = mx.take_along_axis(p, y[:, None], axis=1).squeeze(1)
    return -mx.mean(mx.log(mx.maximum(py, 1e-7)))


def qwk(a, b, k=K):
    O = np.zeros((k, k))
    for i, j in zip(a, b):
        O[i, j] += 1
    W = np.array([[(i - j) ** 2 for j in range(k)] for i in range(k)]) / (k - 1) ** 2
    E = np.outer(O.sum(1), O.sum(0)) / O.sum()
    return 1 - (W * O).sum() / (W * E).sum()


mx.random.seed(5)
model = OrdinalNet()
ema = OrdinalNet()
mx.eval(model.parameters())
ema.update(tree_map(lambda p: mx.array(p), model.parameters()))
mx.eval(ema.parameters())
opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)
vg = nn.value_and_grad(model, nll)

lines = ["@startuml", "title avalanche danger - cumulative-link ordinal net", "participant Trainer", "participant Validator"]
idx = mx.array(rng.permutation(9000)[:100])
l0, g0 = vg(model, Xtr[idx], ytr_mx[idx])
flat = tree_flatten(g0)
nz = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
lines.append(f"note over Trainer : gradcheck leaves={len(flat)} zero={len(nz)} {nz} nll0={l0.item():.4f}")
freq = np.bincount(ytr, minlength=K) / len(ytr)
prior_nll = -float(np.mean(np.log(freq[yva])))
lines.append(f"note over Validator : level shares {np.round(freq, 3).tolist()} prior-only nll={prior_nll:.4f}")

EPOCHS, B, DECAY = 15, 100, 0.995
t0 = time.time()
for ep in range(1, EPOCHS + 1):
    perm = rng.permutation(9000)
    tot, nb = 0.0, 0
    for i in range(0, 9000, B):
        bi = mx.array(perm[i:i + B])
        loss, g = vg(model, Xtr[bi], ytr_mx[bi])
        opt.update(model, g)
        ema.update(tree_map(lambda e, p: DECAY * e + (1 - DECAY) * p, ema.parameters(), model.parameters()))
        mx.eval(model.parameters(), ema.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    pv = ema(Xva_mx)
    v_nll = -float(np.mean(np.log(np.maximum(np.array(pv)[np.arange(len(yva)), yva], 1e-7))))
    pred = np.array(mx.argmax(pv, axis=1))
    acc = float((pred == yva).mean())
    within1 = float((np.abs(pred - yva) <= 1).mean())
    cuts = "[" + ", ".join(f"{c:.2f}" for c in np.array(model.cuts()).tolist()) + "]"
    lines.append(f"Trainer -> Validator : epoch {ep:02d} train_nll={tot / nb:.4f}")
    lines.append(f"Validator --> Trainer : ema val_nll={v_nll:.4f} acc={acc:.3f} within1={within1:.3f} "
                 f"qwk={qwk(yva, pred):.3f} cuts={cuts} t={time.time() - t0:.1f}s")
lines.append(f"note right of Validator : per-level recall "
             f"{[round(float((pred[yva == k] == k).mean()), 3) for k in range(K)]}")
lines.append("@enduml")
print("\n".join(lines))
