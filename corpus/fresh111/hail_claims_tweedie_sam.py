"""Crop-hail insurance: expected claim per field with a Tweedie (p=1.5) model,
trained with sharpness-aware minimisation (SAM) on top of momentum SGD.

Most fields have no claim in a season (exact zeros), the rest a skewed
positive amount, which is what the compound Poisson-gamma Tweedie family
is for.  The network outputs log(mu).
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

P = 1.5          # Tweedie power
RHO = 0.05       # SAM neighbourhood radius


def simulate(rng, n):
    elev = rng.uniform(0, 1, n)            # elevation (scaled)
    storms = rng.poisson(2.0, n)           # forecast convective days
    crop = rng.integers(0, 3, n)           # 0 wheat, 1 maize, 2 vines
    slope = rng.uniform(0, 1, n)
    nets = rng.uniform(0, 1, n) < 0.25     # hail nets installed
    log_rate = -1.6 + 0.45 * storms - 0.8 * elev + 0.5 * (crop == 2) - 1.2 * nets
    lam = np.exp(log_rate)                 # expected number of hail events
    k = rng.poisson(lam)
    sev = 1.0 + 0.6 * (crop == 2) + 0.3 * slope
    claim = np.array([rng.gamma(2.0, s / 2.0, size=m).sum() for m, s in zip(k, sev)])
    x = np.stack([elev, storms / 3.0, crop == 0, crop == 1, crop == 2, slope, nets],
                 axis=1).astype(np.float32)
    return x, claim.astype(np.float32)


class ClaimNet(nn.Module):
    def __init__(self, d_in, width, base_log_mu):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)
        self.out.bias = mx.array([base_log_mu])

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def tweedie_loss(model, x, y):
    eta = model(x)
    # -y mu^(1-p)/(1-p) + mu^(2-p)/(2-p), written with exp for stability
    return mx.mean(-y * mx.exp((1 - P) * eta) / (1 - P) + mx.exp((2 - P) * eta) / (2 - P))


def tweedie_deviance(y, mu):
    y0 = np.maximum(y, 0.0)
    t1 = np.where(y0 > 0, y0 ** (2 - P) / ((1 - P) * (2 - P)), 0.0)
    return float(np.mean(2 * (t1 - y0 * mu ** (1 - P) / (1 - P) + mu ** (2 - P) / (2 - P))))


def normalised_gini(y, pred):
    def gini(a, p):
        order = np.argsort(-p, kind="stable")
        cum = np.cumsum(a[order]) / a.sum()
        return np.mean(cum - np.arange(1, len(a) + 1) / len(a))
    return gini(y, pred) / gini(y, y)


def main():
    rng = np.random.default_rng(3)
    mx.random.seed(3)
    xtr, ytr = simulate(rng, 20000)
    xva, yva = simulate(rng, 5000)
    print(f"fields: train {len(ytr)}, valid {len(yva)}; share with no claim "
          f"{100 * np.mean(ytr == 0):.1f}%, mean claim {ytr.mean():.3f}")

    model = ClaimNet(xtr.shape[1], 48, float(np.log(ytr.mean())))
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.05, momentum=0.9)
    grad_fn = nn.value_and_grad(model, tweedie_loss)
    Xva = mx.array(xva)

    def sam_step(x, y):
        loss, g = grad_fn(model, x, y)
        gnorm = optim.clip_grad_norm(g, float("inf"))[1]
        scale = RHO / (gnorm + 1e-12)
        w0 = model.trainable_parameters()
        eps = tree_map(lambda gi: gi * scale, g)
        model.update(tree_map(lambda w, e: w + e, w0, eps))
        loss_adv, g_adv = grad_fn(model, x, y)
        model.update(w0)                      # back to the unperturbed point
        opt.update(model, g_adv)
        return loss, loss_adv, g

    mu0 = np.exp(np.array(model(Xva)))
    null_dev = tweedie_deviance(yva, np.full_like(yva, ytr.mean()))
    print(f"untrained: valid deviance {tweedie_deviance(yva, mu0):.4f} "
          f"(constant-mean model {null_dev:.4f})")
    print(f"{'ep':>3} {'tweedie':>9} {'sam_gap':>8} {'val_dev':>8} {'explained':>10} {'gini':>6} {'secs':>6}")

    t0 = time.time()
    batch = 128
    for epoch in range(1, 13):
        perm = rng.permutation(len(ytr))
        tot, gap, nb = 0.0, 0.0, 0
        for s in range(0, len(perm) - batch + 1, batch):
            idx = mx.array(perm[s:s + batch])
            loss, loss_adv, g = sam_step(mx.array(xtr)[idx], mx.array(ytr)[idx])
            if epoch == 1 and s == 0:
                leaves = tree_flatten(g)
                zero = [k for k, v in leaves if float(mx.abs(v).sum()) == 0.0]
                print(f"first step: {len(leaves)} gradient leaves, zero: {zero or 'none'}")
            mx.eval(model.parameters(), opt.state, loss, loss_adv)
            tot += loss.item()
            gap += loss_adv.item() - loss.item()
            nb += 1
        mu = np.exp(np.array(model(Xva)))
        dev = tweedie_deviance(yva, mu)
        print(f"{epoch:>3} {tot / nb:>9.4f} {gap / nb:>8.5f} {dev:>8.4f} "
              f"{100 * (1 - dev / null_dev):>9.1f}% {normalised_gini(yva, mu):>6.3f} "
              f"{time.time() - t0:>6.1f}")


if __name__ == "__main__":
    main()
