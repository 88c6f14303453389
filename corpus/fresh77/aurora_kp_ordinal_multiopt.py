# Kp index (0..8) from hourly solar-wind readings, as an ordinal (cumulative-logit)
# model: one score per hour plus 8 ordered cut-points.  The cut-points and the
# network use different optimizers (MultiOptimizer); the cut-points' learning rate
# warms up from exactly 0.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

K = 9
LN2 = math.log(2.0)
rs = np.random.default_rng(2024)


def solar_wind(n):
    bz = rs.normal(-0.5, 4.0, n)                  # nT, southward negative
    v = rs.gamma(9.0, 48.0, n)                    # km/s
    dens = rs.lognormal(1.6, 0.55, n)             # cm^-3
    doy = rs.uniform(0, 365, n)
    ut = rs.uniform(0, 24, n)
    pdyn = 1.67e-6 * dens * v ** 2                # nPa
    coupling = v * np.clip(-bz, 0, None) / 1000.0  # rough rectified E-field
    season = np.cos(2 * np.pi * (doy - 80) / 182.5)  # equinox effect
    latent = (1.1 * coupling + 0.004 * (v - 400) + 0.25 * np.log(pdyn)
              + 0.35 * np.abs(season) + rs.logistic(0, 0.45, n))
    kp = np.digitize(latent, [0.0, 0.6, 1.2, 1.9, 2.6, 3.3, 4.0, 4.7])
    x = np.column_stack([bz, np.log(v), np.log(dens), np.log(pdyn),
                         np.sin(2 * np.pi * doy / 365), np.cos(2 * np.pi * doy / 365),
                         np.sin(2 * np.pi * ut / 24), np.cos(2 * np.pi * ut / 24)])
    return x.astype(np.float32), kp.astype(np.int32)


xtr, ktr = solar_wind(30000)
xte, kte = solar_wind(5000)
m, s = xtr.mean(0), xtr.std(0)
Xtr, Xte = mx.array((xtr - m) / s), mx.array((xte - m) / s)
Ktr, Kte = mx.array(ktr), mx.array(kte)


class OrdinalKp(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 64), nn.SiLU(), nn.Linear(64, 64),
                                  nn.SiLU(), nn.Linear(64, 1))
        self.first_cut = mx.array([-2.0])
        self.gaps = mx.full((K - 2,), 0.5)       # softplus'd, so cuts stay ordered

    def cuts(self):
        return mx.concatenate([self.first_cut,
                               self.first_cut + mx.cumsum(nn.softplus(self.gaps))])

    def class_probs(self, x):
        score = self.body(x)                                  # (B, 1)
        cdf = mx.sigmoid(self.cuts()[None, :] - score)        # P(Kp <= j), (B, K-1)
        ones = mx.ones((x.shape[0], 1))
        zeros = mx.zeros((x.shape[0], 1))
        upper = mx.concatenate([cdf, ones], axis=1)
        lower = mx.concatenate([zeros, cdf], axis=1)
        return upper - lower


def nll_bits(model, x, k):
    p = model.class_probs(x)
    pk = mx.take_along_axis(p, k[:, None], axis=1).squeeze(1)
    return -mx.mean(mx.log(mx.maximum(pk, 1e-9))) / LN2


def qw_kappa(a, b):
    o = np.zeros((K, K))
    np.add.at(o, (a, b), 1)
    w = (np.arange(K)[:, None] - np.arange(K)[None, :]) ** 2 / (K - 1) ** 2
    e = np.outer(o.sum(1), o.sum(0)) / o.sum()
    return 1.0 - (w * o).sum() / (w * e).sum()


def evaluate(model):
    p = model.class_probs(Xte)
    pred = np.array(mx.argmax(p, axis=1))
    bits = nll_bits(model, Xte, Kte).item()
    return bits, 100 * qw_kappa(kte, pred), float(np.abs(pred - kte).mean())


mx.random.seed(5)
model = OrdinalKp()
mx.eval(model.parameters())

STEPS = 1800
opt = optim.MultiOptimizer(
    [optim.Adam(learning_rate=optim.linear_schedule(0.0, 5e-2, 200)),
     optim.SGD(learning_rate=optim.cosine_decay(0.1, STEPS, 1e-3), momentum=0.9)],
    [lambda path, w: path in ("first_cut", "gaps")],
)
vg = nn.value_and_grad(model, nll_bits)

freq = np.bincount(ktr, minlength=K) / len(ktr)
entropy_bits = float(-(freq[freq > 0] * np.log2(freq[freq > 0])).sum())
print("Kp class shares (%):", " ".join("%d:%.1f" % (j, 100 * f) for j, f in enumerate(freq)))
print("climatology (class-share) entropy: %.3f bits/hour, uniform: %.3f" % (entropy_bits, math.log2(K)))

_, g = vg(model, Xtr[:256], Ktr[:256])
flat = tree_flatten(g)
print("first-batch grad leaves: %d, all-zero: %s" %
      (len(flat), [k for k, v in flat if float(mx.abs(v).max()) == 0.0] or "none"))

bar = "+------+----------+------------+-----------+----------+---------+--------+"
print(bar)
print("| step | cut lr   | train bits | test bits | kappa_q% | |dKp|   | secs   |")
print(bar)
b, kq, ad = evaluate(model)
print("| %4d | %8.5f | %10s | %9.4f | %8.2f | %7.3f | %6.1f |" % (0, 0.0, "-", b, kq, ad, 0.0))
t0 = time.time()
order = np.random.default_rng(1).permutation(len(ktr))
cursor = 0
window = []
for step in range(1, STEPS + 1):
    if cursor + 128 > len(order):
        order = np.random.default_rng(step).permutation(len(ktr))
        cursor = 0
    idx = mx.array(order[cursor:cursor + 128])
    cursor += 128
    cut_lr = opt.optimizers[0].learning_rate.item() if step > 1 else 0.0
    loss, g = vg(model, Xtr[idx], Ktr[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    if step % 300 == 0 or step == 1:
        b, kq, ad = evaluate(model)
        print("| %4d | %8.5f | %10.4f | %9.4f | %8.2f | %7.3f | %6.1f |"
              % (step, cut_lr, np.mean(window), b, kq, ad, time.time() - t0))
        window = []
print(bar)
print("cut-points:", np.round(np.array(model.cuts()), 2).tolist())
print("kappa_q is quadratic-weighted agreement (100 = perfect); |dKp| is the mean "
      "absolute class miss; bits are per hour")
