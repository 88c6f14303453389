"""Vineyard must-density survey: partially pooled block means by variational Bayes.

Each vine block has a handful of hydrometer readings of must specific gravity.
Model: reading ~ N(theta_block, sigma^2), theta_block ~ N(mu, tau^2), mu ~ N(m0, s0^2)
with sigma, tau, m0, s0 taken from the winery's handbook. A mean-field Gaussian q is
fitted by stochastic gradient ascent on the reparameterised ELBO (8 draws per step).
Because the model is conjugate the exact posterior and evidence are known, so they
are printed beside the variational numbers.
"""
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SIGMA = 0.0040   # hydrometer + sampling noise (SG units)
TAU = 0.0060     # block-to-block spread
M0, S0 = 1.085, 0.020
SCALE = 1000.0   # variational parameters live in gravity points: SG = 1 + z / SCALE
DRAWS = 8


def make_survey(rng, n_blocks=40):
    mu_true = 1.0905
    theta = mu_true + TAU * rng.normal(size=n_blocks)
    counts = rng.integers(2, 31, size=n_blocks)
    block = np.repeat(np.arange(n_blocks), counts)
    y = theta[block] + SIGMA * rng.normal(size=block.size)
    return y, block, counts, theta


def exact_posterior(y, block, counts):
    J = counts.size
    d = J + 1                      # index 0 = mu, 1..J = theta_j   (points units)
    s, t, s0 = SIGMA * SCALE, TAU * SCALE, S0 * SCALE
    yp = (y - 1.0) * SCALE
    m0p = (M0 - 1.0) * SCALE
    P = np.zeros((d, d)); b = np.zeros(d)
    P[0, 0] = 1 / s0**2 + J / t**2
    b[0] = m0p / s0**2
    sums = np.bincount(block, weights=yp, minlength=J)
    for j in range(J):
        P[j + 1, j + 1] = counts[j] / s**2 + 1 / t**2
        P[0, j + 1] = P[j + 1, 0] = -1 / t**2
        b[j + 1] = sums[j] / s**2
    cov = np.linalg.inv(P)
    mean = cov @ b
    # log evidence in SG units: marginal of y is Gaussian
    n = y.size
    Z = np.zeros((n, J)); Z[np.arange(n), block] = 1.0
    C = SIGMA**2 * np.eye(n) + TAU**2 * Z @ Z.T + S0**2 * np.ones((n, n))
    r = y - M0
    sign, logdet = np.linalg.slogdet(C)
    log_ev = -0.5 * (r @ np.linalg.solve(C, r) + logdet + n * math.log(2 * math.pi))
    return mean, cov, P, log_ev


class MeanField(nn.Module):
    def __init__(self, d, init_mean):
        super().__init__()
        self.loc = mx.full((d,), init_mean)
        self.log_scale = mx.full((d,), 0.0)

    def sample(self, k):
        eps = mx.random.normal((k, self.loc.size))
        return self.loc + mx.exp(self.log_scale) * eps

    def entropy(self):
        return mx.sum(self.log_scale) + 0.5 * self.loc.size * (1 + math.log(2 * math.pi))


def log_joint(z, y, block):
    """z: (k, J+1) in points. Returns (k,) log p(y, z) with y in SG units, z density in points."""
    mu, theta = z[:, 0], z[:, 1:]
    s, t, s0 = SIGMA, TAU * SCALE, S0 * SCALE
    m0p = (M0 - 1.0) * SCALE
    lp_mu = -0.5 * ((mu - m0p) / s0) ** 2 - math.log(s0 * math.sqrt(2 * math.pi))
    lp_th = mx.sum(-0.5 * ((theta - mu[:, None]) / t) ** 2 - math.log(t * math.sqrt(2 * math.pi)), axis=1)
    pred = 1.0 + theta[:, block] / SCALE
    ll = mx.sum(-0.5 * ((y[None, :] - pred) / s) ** 2 - math.log(s * math.sqrt(2 * math.pi)), axis=1)
    return lp_mu + lp_th + ll


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    y_np, block_np, counts, theta_true = make_survey(rng)
    n, J = y_np.size, counts.size
    post_mean, post_cov, P, log_ev = exact_posterior(y_np, block_np, counts)
    print(f"survey: {J} blocks, {n} hydrometer readings ({counts.min()}-{counts.max()} per block)")
    print(f"exact: -log evidence per reading {-log_ev / n:+.4f} nats   posterior mean of mu {1 + post_mean[0]/SCALE:.5f}")

    y = mx.array(y_np.astype(np.float32))
    block = mx.array(block_np.astype(np.int32))
    q = MeanField(J + 1, float((y_np.mean() - 1.0) * SCALE))
    # Each block's MLE as a reference for how much pooling changes things
    raw_means = np.bincount(block_np, weights=y_np, minlength=J) / counts

    def neg_elbo(q):
        z = q.sample(DRAWS)
        return -(mx.mean(log_joint(z, y, block)) + q.entropy()) / n

    warm, total = 200, 2400
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 0.05, warm), optim.cosine_decay(0.05, total - warm, 0.002)], [warm])
    opt = optim.Adam(learning_rate=sched)
    state = [q.state, opt.state, mx.random.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step():
        loss, g = nn.value_and_grad(q, neg_elbo)(q)
        opt.update(q, g)
        return loss

    # one eager gradient check before training
    _, g0 = nn.value_and_grad(q, neg_elbo)(q)
    print(f"grad check: |d loc| {mx.abs(g0['loc']).max().item():.3e}  |d log_scale| {mx.abs(g0['log_scale']).max().item():.3e}")

    def kl_to_exact():
        m = np.array(q.loc, dtype=np.float64)
        v = np.exp(2 * np.array(q.log_scale, dtype=np.float64))
        d = m.size
        diff = post_mean - m
        _, logdet_p = np.linalg.slogdet(post_cov)
        return 0.5 * (np.sum(np.diag(P) * v) + diff @ P @ diff - d + logdet_p - np.sum(np.log(v)))

    print("step\tlr\tneg_elbo/reading\t(exact -logZ/reading)\tKL(q||post)\tmax|mean err| pts\tsd ratio (q/exact)")
    t0 = time.time()
    window = []
    for it in range(1, total + 1):
        lr_now = opt.learning_rate.item()
        loss = step()
        mx.eval(state, loss)
        window.append(loss.item())
        if it == 1 or it % 200 == 0:
            m = np.array(q.loc, dtype=np.float64)
            sd_ratio = np.exp(np.array(q.log_scale, dtype=np.float64)) / np.sqrt(np.diag(post_cov))
            print(f"{it}\t{lr_now:.4f}\t{np.mean(window):+.4f}\t({-log_ev/n:+.4f})\t{kl_to_exact():.4f}"
                  f"\t{np.max(np.abs(m - post_mean)):.4f}\t{sd_ratio.min():.3f}-{sd_ratio.max():.3f}")
            window = []
    m = np.array(q.loc, dtype=np.float64)
    est = 1 + m[1:] / SCALE
    rmse_vb = np.sqrt(np.mean((est - theta_true) ** 2)) * SCALE
    rmse_raw = np.sqrt(np.mean((raw_means - theta_true) ** 2)) * SCALE
    print("block  n  raw_mean  pooled(VB)  exact_post  true")
    for j in list(np.argsort(counts)[:3]) + list(np.argsort(counts)[-2:]):
        print(f"{j:5d} {counts[j]:2d}  {raw_means[j]:.5f}  {est[j]:.5f}     {1+post_mean[j+1]/SCALE:.5f}     {theta_true[j]:.5f}")
    print(f"block-mean RMSE vs truth (gravity points): pooled VB {rmse_vb:.3f} | raw block means {rmse_raw:.3f}")
    print(f"mu: VB {1 + m[0]/SCALE:.5f} +/- {math.exp(q.log_scale[0].item())/SCALE:.5f}   exact {1 + post_mean[0]/SCALE:.5f} +/- {math.sqrt(post_cov[0,0])/SCALE:.5f}")
    print(f"finished {total} steps in {time.time()-t0:.1f}s")


if __name__ == "__main__":
    main()
