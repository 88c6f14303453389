"""Apiary swarm watch: will a hive cast a swarm within ten days?

Seven weekly hive readings -> probability of swarming.  The network is
trained with IVON (variational online Newton, Shen et al. 2024), written out
by hand: every step draws one weight sample from the Gaussian posterior
N(m, 1 / (ess * (h + wd))), takes the minibatch gradient there, and updates
the mean m and the diagonal curvature estimate h.  Predictions average 24
posterior samples.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(31)
mx.random.seed(31)

FEATURES = ["weight_trend_kg", "brood_temp_sd", "hum_400hz_db", "queen_cells",
            "frames_of_bees", "season_day", "forage_index"]


def make_hives(n):
    weight_trend = rng.normal(0.4, 0.9, n)
    brood_sd = np.abs(rng.normal(0.5, 0.25, n))
    hum = rng.normal(0.0, 1.0, n)
    queen_cells = rng.poisson(1.2, n).astype(np.float64)
    frames = rng.uniform(4, 20, n)
    season = rng.uniform(0, 150, n)
    forage = rng.beta(2, 2, n)
    crowd = np.maximum(frames - 11.0, 0.0) / 3.0
    logit = (-2.4 + 1.1 * crowd + 0.9 * np.tanh(queen_cells - 1.0)
             + 0.8 * hum * (queen_cells > 0) + 0.6 * brood_sd
             - 0.5 * weight_trend + 1.2 * np.exp(-((season - 60.0) / 25.0) ** 2)
             - 0.7 * (forage - 0.5) * crowd)
    p = 1.0 / (1.0 + np.exp(-logit))
    y = (rng.uniform(size=n) < p).astype(np.int32)
    X = np.stack([weight_trend, brood_sd, hum, queen_cells, frames, season, forage], 1)
    return X, y, p


Xtr, ytr, ptr = make_hives(4000)
Xte, yte, pte = make_hives(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr = mx.array(((Xtr - mu) / sd).astype(np.float32))
Xte = mx.array(((Xte - mu) / sd).astype(np.float32))
ytr_mx, yte_mx = mx.array(ytr), mx.array(yte)

N = Xtr.shape[0]


def bern_nll(p, y):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


base_rate = ytr.mean()
prior_nll = bern_nll(np.full(len(yte), base_rate), yte)
bayes_nll = bern_nll(pte, yte)


class SwarmNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1)


model = SwarmNet()
mean = model.trainable_parameters()          # m: posterior mean


def loss_fn(params, x, y):
    model.update(params)
    logits = model(x)
    return nn.losses.binary_cross_entropy(logits, y.astype(mx.float32), reduction="mean")


grad_fn = mx.value_and_grad(loss_fn)

# IVON hyper-parameters
PEAK_LR = 0.08
ESS = float(N)          # effective sample size = training set size
WD = 1e-4
BETA1, BETA2 = 0.9, 0.99999
H0 = 0.5
STEPS, WARM, BATCH = 3000, 250, 128
CLIP = 5.0              # element-wise clip of the preconditioned step

hess = tree_map(lambda p: mx.full(p.shape, H0), mean)
mom = tree_map(lambda p: mx.zeros(p.shape), mean)


def lr_at(step):
    if step < WARM:
        return PEAK_LR * step / WARM
    t = (step - WARM) / (STEPS - WARM)
    return 1e-3 + 0.5 * (PEAK_LR - 1e-3) * (1 + math.cos(math.pi * t))


def ivon_step(step, xb, yb):
    global mean, hess, mom
    sigma = tree_map(lambda h: 1.0 / mx.sqrt(ESS * (h + WD)), hess)
    eps = tree_map(lambda m: mx.random.normal(m.shape), mean)
    theta = tree_map(lambda m, s, e: m + s * e, mean, sigma, eps)
    loss, g = grad_fn(theta, xb, yb)
    h_hat = tree_map(lambda gi, e, s: gi * e / s, g, eps, sigma)
    mom = tree_map(lambda m_, gi: BETA1 * m_ + (1 - BETA1) * gi, mom, g)
    hess = tree_map(
        lambda h, hh: BETA2 * h + (1 - BETA2) * hh
        + 0.5 * (1 - BETA2) ** 2 * (h - hh) ** 2 / (h + WD),
        hess, h_hat)
    bc = 1.0 - BETA1 ** (step + 1)
    lr = lr_at(step)
    mean = tree_map(
        lambda m, gm, h: m - lr * mx.clip((gm / bc + WD * m) / (h + WD), -CLIP, CLIP),
        mean, mom, hess)
    mx.eval(mean, hess, mom, loss)
    return loss.item(), lr


def predictive(x, samples=24):
    sigma = tree_map(lambda h: 1.0 / mx.sqrt(ESS * (h + WD)), hess)
    probs = []
    for _ in range(samples):
        theta = tree_map(lambda m, s: m + s * mx.random.normal(m.shape), mean, sigma)
        model.update(theta)
        probs.append(mx.sigmoid(model(x)))
    p = mx.stack(probs).mean(0)
    model.update(mean)
    p_map = mx.sigmoid(model(x))
    mx.eval(p, p_map)
    return np.array(p), np.array(p_map)


def ece(p, y, bins=10):
    edges = np.linspace(0, 1, bins + 1)
    tot = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (p >= lo) & (p < hi)
        if m.any():
            tot += m.mean() * abs(p[m].mean() - y[m].mean())
    return tot


def report(step, lr, window):
    p, p_map = predictive(Xte)
    hv = np.concatenate([np.array(v).ravel() for _, v in tree_flatten(hess)])
    sig = 1.0 / np.sqrt(ESS * (hv + WD))
    print(f"- step: {step}")
    print(f"  lr: {lr:.5f}")
    print(f"  sampled_train_bce: {window:.4f}")
    print(f"  test:")
    print(f"    predictive_nll: {bern_nll(p, yte):.4f}")
    print(f"    mean_weights_nll: {bern_nll(p_map, yte):.4f}")
    print(f"    accuracy_pct: {100 * ((p > 0.5) == yte).mean():.1f}")
    print(f"    ece: {ece(p, yte):.4f}")
    print(f"  curvature_median: {np.median(hv):.3f}")
    print(f"  posterior_sd_median: {np.median(sig):.5f}")


n_params = sum(v.size for _, v in tree_flatten(mean))
print("# apiary swarm watch / IVON")
print(f"hives: {{train: {N}, test: {len(yte)}, swarm_rate: {base_rate:.3f}, params: {n_params}}}")
print(f"references: {{prior_nll: {prior_nll:.4f}, true_prob_nll: {bayes_nll:.4f}}}")

# one gradient check at the posterior mean before training
_, g0 = grad_fn(mean, Xtr[:BATCH], ytr_mx[:BATCH])
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(f"grad_check: {{leaves: {len(tree_flatten(g0))}, all_zero: {zero}}}")

t0 = time.time()
recent = []
order = rng.permutation(N)
cursor = 0
for step in range(STEPS + 1):
    if cursor + BATCH > N:
        order = rng.permutation(N)
        cursor = 0
    idx = mx.array(order[cursor:cursor + BATCH])
    cursor += BATCH
    loss, lr = ivon_step(step, Xtr[idx], ytr_mx[idx])
    recent.append(loss)
    recent = recent[-100:]
    if step in (0, 100) or (step % 500 == 0 and step > 0):
        report(step, lr, float(np.mean(recent)))

p, p_map = predictive(Xte, samples=64)
print("summary:")
print(f"  predictive_nll: {bern_nll(p, yte):.4f}   # prior {prior_nll:.4f}, true-probability floor {bayes_nll:.4f}")
print(f"  mean_weights_nll: {bern_nll(p_map, yte):.4f}")
print(f"  accuracy_pct: {100 * ((p > 0.5) == yte).mean():.1f}   # majority {100 * max(yte.mean(), 1 - yte.mean()):.1f}")
print(f"  seconds: {time.time() - t0:.1f}")
