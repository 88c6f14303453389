"""Lake ice-cover fraction: logit-normal regression, three seeds trained in turn, then an ensemble.

Each lake-day gives six sensor readings; the target is the fraction of the lake surface
covered by ice (strictly between 0 and 1).  The network predicts the location and log
scale of a logit-normal distribution (logit(y) ~ Normal(mu, sigma)) and is trained on its
exact negative log-likelihood, Jacobian term included.  It is a continuous NLL, so it goes
below zero once the predicted densities exceed 1.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

EPS = 1e-4
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def make_lakes(n, rng):
    freeze_dd = rng.gamma(3.0, 1.0, n)           # freezing degree-days (x100)
    wind = rng.gamma(2.0, 2.5, n)                # m/s
    snow = rng.exponential(8.0, n)               # cm
    depth = rng.lognormal(2.0, 0.6, n)           # m
    day = rng.uniform(0, 120, n)                 # day of the cold season
    solar = rng.uniform(0.2, 1.0, n)             # clear-sky index
    z = (1.1 * (freeze_dd - 3.0) - 0.18 * (wind - 5.0) + 0.04 * snow
         - 0.35 * np.log(depth) + 0.8 * np.sin(math.pi * day / 120.0)
         - 0.9 * (solar - 0.6) + 0.3)
    mean = 1.0 / (1.0 + np.exp(-z))
    conc = 4.0 + 20.0 * np.exp(-0.15 * wind)      # windy days: patchier, more spread
    y = rng.beta(mean * conc, (1.0 - mean) * conc)
    y = np.clip(y, EPS, 1.0 - EPS)
    x = np.stack([freeze_dd, wind, np.log1p(snow), np.log(depth), day / 120.0, solar], 1)
    return x.astype(np.float32), y.astype(np.float32)


class IceNet(nn.Module):
    def __init__(self, d_in=6, width=64):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(d_in, width), nn.SiLU(),
                                   nn.Linear(width, width), nn.SiLU())
        self.head = nn.Linear(width, 2)

    def __call__(self, x):
        out = self.head(self.trunk(x))
        mu = out[:, 0]
        log_sigma = mx.clip(out[:, 1], -5.0, 3.0)
        return mu, log_sigma


def logitnormal_logpdf(mu, log_sigma, y):
    z = mx.log(y) - mx.log1p(-y)                 # logit(y)
    r = (z - mu) * mx.exp(-log_sigma)
    # Normal log-density of z minus log|dz/dy| = log(y (1 - y))
    return -0.5 * r * r - log_sigma - HALF_LOG_2PI - mx.log(y) - mx.log1p(-y)


def nll_loss(model, x, y):
    mu, ls = model(x)
    return -mx.mean(logitnormal_logpdf(mu, ls, y))


def evaluate(model, x, y):
    mu, ls = model(x)
    nll = -mx.mean(logitnormal_logpdf(mu, ls, y))
    median = mx.sigmoid(mu)                      # median of a logit-normal
    mae_pts = 100.0 * mx.mean(mx.abs(median - y))
    return nll.item(), mae_pts.item()


def train_one_seed(seed, xtr, ytr, xva, yva, epochs=14, batch=128):
    mx.random.seed(seed)
    rng = np.random.default_rng(seed)
    model = IceNet()
    mx.eval(model.parameters())
    opt = optim.AdaDelta(learning_rate=1.0, rho=0.95)
    step_fn = nn.value_and_grad(model, nll_loss)

    # gradient audit on the first batch, before any update
    _, g0 = step_fn(model, xtr[:batch], ytr[:batch])
    flat = tree_flatten(g0)
    zero = [k for k, v in flat if mx.max(mx.abs(v)).item() == 0.0]
    print(f'  <grad-check seed="{seed}" leaves="{len(flat)}" zero="{",".join(zero)}"/>')

    nll0, mae0 = evaluate(model, xva, yva)
    print(f'  <epoch seed="{seed}" n="0" train_nll="" val_nll="{nll0:+.4f}" '
          f'val_median_mae_pts="{mae0:.2f}"/>')
    n = xtr.shape[0]
    for ep in range(1, epochs + 1):
        t0 = time.perf_counter()
        perm = rng.permutation(n)
        tot, cnt = 0.0, 0
        for i in range(0, n - batch + 1, batch):
            idx = mx.array(perm[i:i + batch])
            loss, grads = step_fn(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            cnt += 1
        if ep in (1, 2, 4, 7, 10, 14):
            vn, vm = evaluate(model, xva, yva)
            print(f'  <epoch seed="{seed}" n="{ep}" train_nll="{tot / cnt:+.4f}" '
                  f'val_nll="{vn:+.4f}" val_median_mae_pts="{vm:.2f}" '
                  f'secs="{time.perf_counter() - t0:.2f}"/>')
    return model


def ensemble_eval(models, x, y):
    logps, logits = [], []
    for m in models:
        mu, ls = m(x)
        logps.append(logitnormal_logpdf(mu, ls, y))
        logits.append(mu)
    # equal-weight mixture density; point forecast = sigmoid of the mean location
    lp = mx.logsumexp(mx.stack(logps), axis=0) - math.log(len(models))
    med = mx.sigmoid(mx.mean(mx.stack(logits), axis=0))
    return (-mx.mean(lp)).item(), (100.0 * mx.mean(mx.abs(med - y))).item()


def main():
    rng = np.random.default_rng(2024)
    xtr, ytr = make_lakes(8000, rng)
    xva, yva = make_lakes(2000, rng)
    mu, sd = xtr.mean(0), xtr.std(0)
    xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
    xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))

    # baseline: predict the training median ice cover for every lake-day
    med_const = float(np.median(np.array(ytr)))
    base_mae = 100.0 * float(np.mean(np.abs(np.array(yva) - med_const)))
    print('<run task="lake-ice-cover" dist="logit-normal" optimizer="AdaDelta">')
    print(f'  <data train="{xtr.shape[0]}" val="{xva.shape[0]}" '
          f'constant_median_mae_pts="{base_mae:.2f}"/>')
    print('  <!-- nll is nats per lake-day, lower is better, negative is fine (density > 1) -->')
    models = []
    for seed in (11, 22, 33):
        t0 = time.perf_counter()
        models.append(train_one_seed(seed, xtr, ytr, xva, yva))
        print(f'  <seed-done seed="{seed}" secs="{time.perf_counter() - t0:.1f}"/>')
    en, em = ensemble_eval(models, xva, yva)
    print(f'  <ensemble members="{len(models)}" val_nll="{en:+.4f}" '
          f'val_median_mae_pts="{em:.2f}"/>')
    print('</run>')


if __name__ == '__main__':
    main()
