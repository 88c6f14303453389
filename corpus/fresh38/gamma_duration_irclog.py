# Gamma regression (log link) for positive, right-skewed repair durations, with one
# learned shape parameter k = softplus(raw_k). Exact Gamma NLL; MLX has no lgamma,
# so a shift-by-6 Stirling series is used (checked against math.lgamma below).
# The log imitates an IRC channel transcript.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


def lgamma(x):
    shift = mx.zeros_like(x)
    z = x
    for _ in range(6):
        shift = shift + mx.log(z)
        z = z + 1.0
    s = (z - 0.5) * mx.log(z) - z + 0.5 * math.log(2 * math.pi)
    s = s + 1.0 / (12 * z) - 1.0 / (360 * z ** 3) + 1.0 / (1260 * z ** 5)
    return s - shift


class GammaReg(nn.Module):
    def __init__(self, d_in):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(d_in, 32), nn.SiLU(), nn.Linear(32, 32), nn.SiLU())
        self.log_mu = nn.Linear(32, 1)
        self.raw_k = mx.array([0.5])

    def __call__(self, x):
        return self.log_mu(self.trunk(x)).squeeze(-1), nn.softplus(self.raw_k)


def gamma_nll(log_mu, k, y):
    # y ~ Gamma(shape k, rate k/mu): -log p = lgamma(k) - k log(k/mu) - (k-1) log y + k y / mu
    return mx.mean(lgamma(k) - k * (mx.log(k) - log_mu) - (k - 1) * mx.log(y) + k * y * mx.exp(-log_mu))


def simulate(n, rng, k_true=3.0):
    X = rng.normal(0, 1, (n, 5)).astype(np.float32)
    log_mu = 1.2 + 0.5 * X[:, 0] - 0.35 * X[:, 1] + 0.3 * np.sin(2 * X[:, 2]) + 0.2 * X[:, 3] * X[:, 4]
    mu = np.exp(log_mu)
    y = rng.gamma(k_true, mu / k_true).astype(np.float32)
    return X, y, log_mu.astype(np.float32)


def stamp(t0, n):
    m = int(time.time() - t0) + n
    return f"[{9 + m // 60:02d}:{m % 60:02d}]"


def main():
    mx.random.seed(5)
    rng = np.random.default_rng(5)
    Xtr, ytr, _ = simulate(4000, rng)
    Xva, yva, lmva = simulate(1000, rng)
    Xtr, ytr = mx.array(Xtr), mx.array(ytr)
    Xva_m, yva_m = mx.array(Xva), mx.array(yva)

    chk = max(abs(lgamma(mx.array([v])).item() - math.lgamma(v)) for v in (0.3, 1.0, 2.5, 7.0, 40.0))
    oracle = gamma_nll(mx.array(lmva), mx.array([3.0]), yva_m).item()

    model = GammaReg(5)
    mx.eval(model.parameters())

    def loss_fn(m, x, y):
        lm, k = m(x)
        return gamma_nll(lm, k, y)

    vg = nn.value_and_grad(model, loss_fn)
    _, g0 = vg(model, Xtr[:256], ytr[:256])
    zero = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0.0]
    t0 = time.time()
    print(f"{stamp(t0, 0)} -!- trainer has joined #gamma-reg")
    print(f"{stamp(t0, 0)} -!- Topic: lgamma max abs err {chk:.1e} | zero-grad leaves: {zero or 'none'} "
          f"| oracle val NLL (true mu, k=3) {oracle:.4f}")

    opt = optim.RMSprop(learning_rate=2e-3)
    n, bs = 4000, 128
    step = 0
    for epoch in range(1, 61):
        perm = mx.array(rng.permutation(n))
        for s in range(0, n, bs):
            idx = perm[s:s + bs]
            loss, grads = vg(model, Xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
            step += 1
        if epoch in (1, 2, 4) or epoch % 8 == 0 or epoch == 60:
            lm, k = model(Xva_m)
            val = gamma_nll(lm, k, yva_m).item()
            corr = np.corrcoef(np.array(lm), lmva)[0, 1]
            print(f"{stamp(t0, epoch)} <trainer> ep{epoch} step{step}: last batch nll {loss.item():.4f}, "
                  f"val nll {val:.4f} (oracle {oracle:.4f}), shape k={k.item():.3f} (true 3.0), corr(log mu) {corr:.3f}")
            if epoch % 24 == 0:
                print(f"{stamp(t0, epoch)} <ops-bot> trainer: ack, {time.time()-t0:.1f}s elapsed")
    print(f"{stamp(t0, 61)} -!- trainer has quit (done)")


if __name__ == "__main__":
    main()
