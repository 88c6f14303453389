"""Stained-glass studio kiln log: two task towers with soft parameter sharing.

Task A: paint adhesion score of a fired piece (Gaussian mean + log-variance heads,
        NLL in nats on the standardised score, so it can go below zero).
Task B: did the piece crack on cooling (logistic).
Each task has its own tower; the hidden layers of the two towers are pulled
towards each other by an L2 tie whose weight is ramped up over the run.
"""
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(3181)
N_TR, N_VA = 6000, 1500


def kiln_log(n):
    peak = rng.uniform(620, 700, n)        # deg C
    soak = rng.uniform(2, 25, n)           # minutes
    layer = rng.uniform(0.05, 0.6, n)      # mm of paint
    coe = rng.normal(0, 1.2, n)            # expansion mismatch, ppm
    area = rng.lognormal(4.5, 0.6, n)      # cm2
    cool = rng.uniform(40, 260, n)         # deg C per hour through annealing
    X = np.stack([peak, soak, layer, coe, np.log(area), cool], 1)
    heat = (peak - 660) / 20 + 0.04 * (soak - 12)
    adhesion = 3.0 + 1.1 * np.tanh(heat) - 1.6 * (layer - 0.3) ** 2 * 4 - 0.25 * np.abs(coe)
    noise_sd = 0.15 + 0.35 * layer          # thick paint is less predictable
    adhesion = adhesion + rng.normal(0, 1, n) * noise_sd
    z = -2.4 + 0.9 * np.abs(coe) + 0.012 * (cool - 120) + 0.5 * (np.log(area) - 4.5) + 0.3 * np.tanh(heat)
    crack = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.float32)
    return X, adhesion, crack


Xtr, Atr, Ctr = kiln_log(N_TR)
Xva, Ava, Cva = kiln_log(N_VA)
mu, sd = Xtr.mean(0), Xtr.std(0)
a_mu, a_sd = Atr.mean(), Atr.std()
xtr = mx.array(((Xtr - mu) / sd).astype(np.float32))
xva = mx.array(((Xva - mu) / sd).astype(np.float32))
atr = mx.array(((Atr - a_mu) / a_sd).astype(np.float32))
ava = mx.array(((Ava - a_mu) / a_sd).astype(np.float32))
ctr, cva = mx.array(Ctr), mx.array(Cva)


class Tower(nn.Module):
    def __init__(self, n_out):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, n_out)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


class KilnTowers(nn.Module):
    def __init__(self):
        super().__init__()
        self.adhesion = Tower(2)   # mean, log-variance
        self.crack = Tower(1)

    def __call__(self, x):
        a = self.adhesion(x)
        return a[:, 0], mx.clip(a[:, 1], -7.0, 4.0), self.crack(x)[:, 0]

    def tie_distance(self):
        d = 0.0
        for name in ("l1", "l2"):
            pa, pb = getattr(self.adhesion, name), getattr(self.crack, name)
            d = d + mx.sum((pa.weight - pb.weight) ** 2) + mx.sum((pa.bias - pb.bias) ** 2)
        return d


def parts(model, x, a, c):
    m, logv, z = model(x)
    nll = 0.5 * (logv + (a - m) ** 2 / mx.exp(logv) + mx.log(2 * mx.array(np.pi)))
    bce = nn.losses.binary_cross_entropy(z, c, with_logits=True)
    return nll.mean(), bce.mean()


def objective(model, x, a, c, lam):
    nll, bce = parts(model, x, a, c)
    tie = model.tie_distance()
    return nll + bce + lam * tie, (nll, bce, tie)


mx.random.seed(3181)
model = KilnTowers()
mx.eval(model.parameters())
STEPS = 1800
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, 120), optim.cosine_decay(2e-3, STEPS - 120, 5e-5)], [120])
opt = optim.Adamax(learning_rate=sched)
lg = nn.value_and_grad(model, objective)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, a, c, lam):
    (loss, aux), grads = lg(model, x, a, c, lam)
    opt.update(model, grads)
    return loss, aux


def lam_at(step):
    # tie weight: off for 300 steps, then ramped to 0.02 by step 1200, then held
    return 0.02 * min(max(step - 300, 0) / 900, 1.0)


def held_out():
    m, logv, z = model(xva)
    nll, bce = parts(model, xva, ava, cva)
    rmse = float(mx.sqrt(mx.mean((m - ava) ** 2))) * a_sd
    acc = float(mx.mean((z > 0) == (cva > 0.5))) * 100
    return float(nll), float(bce), rmse, acc


# references without a model: one Gaussian for all pieces, one crack rate for all pieces
ref_nll = 0.5 * (np.log(2 * np.pi) + 1.0)
p0 = Ctr.mean()
ref_bce = float(-np.mean(Cva * np.log(p0) + (1 - Cva) * np.log(1 - p0)))
ref_acc = float(max(Cva.mean(), 1 - Cva.mean()) * 100)
ref_rmse = float(np.sqrt(np.mean((Ava - a_mu) ** 2)))

print(f"kiln log: {N_TR} fired pieces to learn from, {N_VA} held back; crack rate {Ctr.mean()*100:.1f}%")
print(f"no-model yardsticks: adhesion nll {ref_nll:.3f} nats, rmse {ref_rmse:.3f} | crack bce {ref_bce:.3f}, acc {ref_acc:.1f}%")

(l0, aux0), g0 = lg(model, xtr[:128], atr[:128], ctr[:128], mx.array(0.0))
flat = tree_flatten(g0)
still = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
print(f"first batch: {len(flat)} gradient arrays, zero ones: {still or 'none'}; tie distance at init {float(aux0[2]):.1f}")

print("| step |     lr | tie wt | objective | adh nll | crack bce | tie dist | val nll | val rmse | val bce | val acc % |")
print("|------+--------+--------+-----------+---------+-----------+----------+---------+----------+---------+-----------|")
order = rng.permutation(N_TR)
pos = 0
acc_w = []
t0 = time.time()
for step in range(STEPS):
    if pos + 128 > N_TR:
        order = rng.permutation(N_TR)
        pos = 0
    idx = mx.array(order[pos:pos + 128])
    pos += 128
    lam = lam_at(step)
    lr_now = float(sched(step))
    loss, aux = train_step(xtr[idx], atr[idx], ctr[idx], mx.array(lam, dtype=mx.float32))
    mx.eval(loss, aux, model.state, opt.state)
    acc_w.append(mx.stack([loss, aux[0], aux[1], aux[2]]))
    acc_w = acc_w[-40:]
    s = step + 1
    if s in (1, 25, 100) or s % 300 == 0:
        w = np.array(mx.mean(mx.stack(acc_w), 0))
        vn, vb, vr, va = held_out()
        print(f"| {s:4d} | {lr_now:.4f} | {lam:.4f} | {w[0]:+9.4f} | {w[1]:+7.4f} | {w[2]:9.4f} | {w[3]:8.2f} "
              f"| {vn:+7.4f} | {vr:8.3f} | {vb:7.4f} | {va:9.1f} |")

vn, vb, vr, va = held_out()
print(f"finished in {time.time()-t0:.1f}s: held-out adhesion nll {vn:+.3f} (yardstick {ref_nll:.3f}), rmse {vr:.3f} "
      f"(yardstick {ref_rmse:.3f}); crack bce {vb:.3f} (yardstick {ref_bce:.3f}), acc {va:.1f}% (yardstick {ref_acc:.1f}%)")
