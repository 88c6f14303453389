"""Affinage grade of a cave-ripened cheese wheel (0 = green ... 4 = fully ripe).

Cumulative-link (proportional odds) ordinal model, trained with momentum SGD under
SGDR-style warm restarts (cosine cycles of 2, 4 and 8 epochs).  The step is compiled
with the model and optimizer state as inputs/outputs.
"""
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

GRADES = ["green", "young", "mid", "mature", "ripe"]
rng = np.random.default_rng(11)


def make_wheels(n, cuts=None):
    age = rng.uniform(2, 40, n)               # weeks in the cave
    hum = rng.uniform(82, 97, n)              # relative humidity %
    temp = rng.uniform(8, 15, n)              # cave temperature C
    mass = rng.lognormal(np.log(9.0), 0.35, n)  # kg
    salt = rng.uniform(1.2, 2.6, n)           # % salt
    turns = rng.integers(1, 8, n).astype(np.float64)  # turns per week
    # made-up ripening law: degree-weeks, slowed by big wheels and salt
    latent = (1.6 * np.log(age * (temp - 4.0) / 10.0)
              + 0.06 * (hum - 90.0)
              - 0.9 * np.log(mass / 9.0)
              - 0.8 * (salt - 1.9)
              + 0.05 * turns)
    latent += rng.logistic(0.0, 0.35, n)
    if cuts is None:  # grade boundaries fixed once, from the training batch
        cuts = np.quantile(latent, [0.15, 0.35, 0.60, 0.82])
    y = np.searchsorted(cuts, latent).astype(np.int32)
    X = np.stack([np.log(age), hum, temp, np.log(mass), salt, turns], axis=1)
    return X.astype(np.float32), y, cuts


Xtr, ytr, CUTS = make_wheels(40000)
Xva, yva, _ = make_wheels(2000, CUTS)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr = (Xtr - mu) / sd
Xva = (Xva - mu) / sd


class CumLink(nn.Module):
    def __init__(self, d_in, n_levels, width=96):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, width), nn.SiLU(),
                                  nn.Linear(width, width), nn.SiLU())
        self.score = nn.Linear(width, 1, bias=False)
        self.first_cut = mx.array(-1.0)
        self.gaps = mx.zeros((n_levels - 2,))

    def cutpoints(self):
        rest = self.first_cut + mx.cumsum(nn.softplus(self.gaps) + 0.05)
        return mx.concatenate([self.first_cut[None], rest])

    def __call__(self, x):
        s = self.score(self.body(x))                 # (B, 1)
        cdf = mx.sigmoid(self.cutpoints()[None, :] - s)  # P(y <= k), (B, K-1)
        B = cdf.shape[0]
        cdf = mx.concatenate([mx.zeros((B, 1)), cdf, mx.ones((B, 1))], axis=1)
        return cdf[:, 1:] - cdf[:, :-1]              # class probabilities (B, K)


def nll(model, x, y):
    p = model(x)
    py = mx.take_along_axis(p, y[:, None], axis=1).squeeze(1)
    return -mx.mean(mx.log(mx.maximum(py, 1e-9)))


def qwk(a, b, k=5):
    O = np.zeros((k, k))
    for i, j in zip(a, b):
        O[i, j] += 1
    w = np.array([[(i - j) ** 2 for j in range(k)] for i in range(k)]) / (k - 1) ** 2
    E = np.outer(O.sum(1), O.sum(0)) / O.sum()
    return 1.0 - (w * O).sum() / (w * E).sum()


mx.random.seed(3)
model = CumLink(6, len(GRADES))
mx.eval(model.parameters())

BATCH = 64
steps_per_epoch = len(Xtr) // BATCH
cycles = [2, 4, 8]                        # epochs per cosine cycle (SGDR, T_mult = 2)
peak = 0.05
schedules, bounds, acc = [], [], 0
for c in cycles:
    schedules.append(optim.cosine_decay(peak, c * steps_per_epoch, 1e-4))
    acc += c * steps_per_epoch
    bounds.append(acc)
lr_sched = optim.join_schedules(schedules, bounds[:-1])
opt = optim.SGD(learning_rate=lr_sched, momentum=0.9)

loss_and_grad = nn.value_and_grad(model, nll)

# one eager step's gradients, to check every leaf receives a signal
xb0, yb0 = mx.array(Xtr[:BATCH]), mx.array(ytr[:BATCH])
_, g0 = loss_and_grad(model, xb0, yb0)
flat = tree_flatten(g0)
dead = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
print(f"gradient leaves: {len(flat)}, all-zero: {dead if dead else 'none'}")

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = loss_and_grad(model, x, y)
    opt.update(model, grads)
    return loss


def evaluate():
    p = np.array(model(mx.array(Xva)))
    pred = p.argmax(1)
    py = p[np.arange(len(yva)), yva]
    return (float(-np.log(np.maximum(py, 1e-9)).mean()),
            100.0 * (pred == yva).mean(),
            100.0 * (np.abs(pred - yva) <= 1).mean(),
            qwk(yva, pred))


counts = np.bincount(ytr, minlength=5)
print("grade shares: " + ", ".join(f"{g} {100 * c / len(ytr):.1f}%" for g, c in zip(GRADES, counts)))
v = evaluate()
print(f"untrained: val nll {v[0]:.3f}  exact {v[1]:.1f}%  within-one {v[2]:.1f}%  qwk {v[3]:.3f}")

t0 = time.time()
epoch = 0
for ci, c in enumerate(cycles, 1):
    for e in range(c):
        epoch += 1
        perm = np.random.default_rng(epoch).permutation(len(Xtr))
        tot = 0.0
        for b in range(steps_per_epoch):
            idx = mx.array(perm[b * BATCH:(b + 1) * BATCH])
            loss = step(mx.array(Xtr)[idx], mx.array(ytr)[idx])
            mx.eval(loss, state)
            tot += loss.item()
        lr_now = opt.learning_rate.item()   # the rate the epoch's last update used
        v = evaluate()
        print(f"cycle {ci} epoch {epoch:2d} | last lr {lr_now:.5f} | train nll {tot / steps_per_epoch:.4f}"
              f" | val nll {v[0]:.4f} | exact {v[1]:5.1f}% | within-one {v[2]:5.1f}% | qwk {v[3]:.3f}")
    print(f"-- restart after cycle {ci} ({time.time() - t0:.1f}s)")

cuts = np.array(model.cutpoints())
print("learned cut-points:", " ".join(f"{c:+.2f}" for c in cuts))
print(f"done in {time.time() - t0:.1f}s")
