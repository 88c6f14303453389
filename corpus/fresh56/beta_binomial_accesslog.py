"""Beta-binomial regression of over-dispersed success counts.

800 synthetic "players" each take n_i shots (5..60) with a latent success
probability drawn from Beta(mu_i * phi, (1 - mu_i) * phi); mu_i depends
non-linearly on 4 covariates.  A small tanh MLP predicts logit(mu) and one raw
log-concentration scalar models the over-dispersion.  Exact beta-binomial NLL
(hand-written Stirling lgamma), hand-written heavy-ball momentum SGD with a
linear warm-up.  Progress is written as web-server access-log lines.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(7)
mx.random.seed(7)

G, D, PHI_TRUE = 800, 4, 12.0
X = rng.normal(size=(G, D)).astype(np.float32)
logit_mu = 0.8 * X[:, 0] - 0.6 * X[:, 1] + 0.5 * np.sin(2.0 * X[:, 2]) + 0.3 * X[:, 3] ** 2 - 0.4
mu = 1.0 / (1.0 + np.exp(-logit_mu))
p = rng.beta(mu * PHI_TRUE, (1.0 - mu) * PHI_TRUE)
N = rng.integers(5, 61, size=G)
K = rng.binomial(N, p)
perm = rng.permutation(G)
tr, va = perm[:640], perm[640:]

Xtr, Ntr, Ktr = mx.array(X[tr]), mx.array(N[tr], dtype=mx.float32), mx.array(K[tr], dtype=mx.float32)
Xva, Nva, Kva = mx.array(X[va]), mx.array(N[va], dtype=mx.float32), mx.array(K[va], dtype=mx.float32)

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def lgamma(x):
    """log Gamma(x) for x > 0: shift by 6, then Stirling series."""
    y = x + 6.0
    series = 1.0 / (12.0 * y) - 1.0 / (360.0 * y**3) + 1.0 / (1260.0 * y**5)
    stirling = (y - 0.5) * mx.log(y) - y + HALF_LOG_2PI + series
    shift = mx.log(x * (x + 1) * (x + 2) * (x + 3) * (x + 4) * (x + 5))
    return stirling - shift


_chk = np.array([0.3, 1.0, 2.5, 7.0, 31.0, 61.0], dtype=np.float32)
_err = np.abs(np.array(lgamma(mx.array(_chk))) - np.array([math.lgamma(v) for v in _chk])).max()
assert _err < 1e-4, _err


class BetaBinomialReg(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 16)
        self.l2 = nn.Linear(16, 1)
        self.log_phi = mx.array([math.log(2.0)])

    def __call__(self, x):
        return self.l2(mx.tanh(self.l1(x))).squeeze(-1)


def nll(model, x, n, k):
    m = mx.sigmoid(model(x))
    phi = mx.exp(model.log_phi)
    a, b = m * phi, (1.0 - m) * phi
    log_choose = lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1)
    ll = (log_choose + lgamma(k + a) + lgamma(n - k + b) - lgamma(n + a + b)
          + lgamma(a + b) - lgamma(a) - lgamma(b))
    return -ll.mean()


model = BetaBinomialReg()
mx.eval(model.parameters())
loss_and_grad = nn.value_and_grad(model, nll)

# first-step gradient check: every leaf must receive a signal
_, g0 = loss_and_grad(model, Xtr, Ntr, Ktr)
zero_leaves = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(f"# grad check: {len(tree_flatten(g0))} leaves, zero-gradient leaves: {zero_leaves or 'none'}")

velocity = tree_map(mx.zeros_like, model.trainable_parameters())
BASE_LR, MOMENTUM, WARMUP, EPOCHS, BS = 0.02, 0.9, 40, 70, 32
step = 0


def stamp():
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())


for epoch in range(1, EPOCHS + 1):
    order = np.random.default_rng(epoch).permutation(len(tr))
    total, count = 0.0, 0
    for s in range(0, len(order), BS):
        idx = mx.array(order[s:s + BS])
        loss, grads = loss_and_grad(model, Xtr[idx], Ntr[idx], Ktr[idx])
        step += 1
        lr = BASE_LR * min(1.0, step / WARMUP)
        velocity = tree_map(lambda v, g: MOMENTUM * v + g, velocity, grads)
        new_params = tree_map(lambda p, v: p - lr * v, model.trainable_parameters(), velocity)
        model.update(new_params)
        mx.eval(model.parameters(), velocity, loss)
        total += loss.item() * len(idx)
        count += len(idx)
    if epoch % 7 == 0 or epoch == 1:
        val = nll(model, Xva, Nva, Kva).item()
        phi = math.exp(model.log_phi.item())
        print(f'127.0.0.1 - trainer [{stamp()}] "POST /fit/epoch/{epoch} HTTP/1.1" 200 '
              f'train_nll={total / count:.4f} val_nll={val:.4f} phi={phi:.2f} lr={lr:.3f}')

# reference: NLL of the data-generating parameters on the validation groups
m_true = mx.array(mu[va].astype(np.float32))
a, b = m_true * PHI_TRUE, (1 - m_true) * PHI_TRUE
oracle = -(lgamma(Nva + 1) - lgamma(Kva + 1) - lgamma(Nva - Kva + 1) + lgamma(Kva + a)
           + lgamma(Nva - Kva + b) - lgamma(Nva + a + b) + lgamma(a + b) - lgamma(a) - lgamma(b)).mean()
print(f'127.0.0.1 - trainer [{stamp()}] "GET /fit/summary HTTP/1.1" 200 '
      f'val_nll={nll(model, Xva, Nva, Kva).item():.4f} oracle_val_nll={oracle.item():.4f} '
      f'phi={math.exp(model.log_phi.item()):.2f} phi_true={PHI_TRUE:.1f}')
