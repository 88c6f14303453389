"""Learned index: fit a monotone model of the key -> position CDF of a sorted
key column, so a lookup can jump close to the right slot and only search a
small error window.  Model: sum of softplus-weighted sigmoid ramps."""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_KEYS = 50_000
N_RAMPS = 24


class RampCDF(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.centers = mx.linspace(-2.5, 2.5, n)
        self.log_scale = mx.zeros((n,))
        self.raw_w = mx.zeros((n,))
        self.raw_lin = mx.array(-3.0)

    def __call__(self, k):
        # k: normalised keys, shape (B,)
        z = (k[:, None] - self.centers[None, :]) * mx.exp(self.log_scale)[None, :]
        w = nn.softplus(self.raw_w)
        lin = nn.softplus(self.raw_lin)
        y = (mx.sigmoid(z) * w[None, :]).sum(axis=1) + lin * k
        # normalise so the curve spans [0, 1] over the key range
        lo = (mx.sigmoid((-3.0 - self.centers) * mx.exp(self.log_scale)) * w).sum() - 3.0 * lin
        hi = (mx.sigmoid((3.0 - self.centers) * mx.exp(self.log_scale)) * w).sum() + 3.0 * lin
        return (y - lo) / (hi - lo)


def main():
    rng = np.random.default_rng(2024)
    # a lumpy key distribution: mixture of lognormal and two dense id ranges
    keys = np.concatenate([
        rng.lognormal(mean=10.0, sigma=0.6, size=N_KEYS // 2),
        rng.uniform(30_000, 34_000, size=N_KEYS // 4),
        rng.normal(60_000, 1_500, size=N_KEYS - N_KEYS // 2 - N_KEYS // 4),
    ])
    keys = np.unique(np.round(keys).astype(np.int64))
    n = keys.shape[0]
    mu, sd = keys.mean(), keys.std()
    knorm = np.clip((keys - mu) / sd, -3.0, 3.0).astype(np.float32)
    pos = (np.arange(n) / (n - 1)).astype(np.float32)
    K, P = mx.array(knorm), mx.array(pos)

    mx.random.seed(0)
    model = RampCDF(N_RAMPS)
    opt = optim.Adagrad(learning_rate=0.08)

    def loss_fn(m, k, p):
        return nn.losses.huber_loss(m(k), p, delta=0.02, reduction="mean")

    vg = nn.value_and_grad(model, loss_fn)
    _, g0 = vg(model, K[:4096], P[:4096])
    zero = [name for name, g in tree_flatten(g0) if float(mx.abs(g).max().item()) == 0.0]
    print(f"keys={n} ramps={N_RAMPS} params={sum(v.size for _, v in tree_flatten(model.parameters()))} "
          f"zero_grad_leaves={zero if zero else 'none'}")

    def position_errors():
        pred = np.array(model(K)) * (n - 1)
        err = np.abs(pred - np.arange(n))
        return err.max(), err.mean()

    t0 = time.time()
    steps = 1500
    for step in range(1, steps + 1):
        idx = mx.array(rng.integers(0, n, size=4096))
        loss, grads = vg(model, K[idx], P[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step in (1, 10, 50) or step % 250 == 0:
            emax, emean = position_errors()
            window = int(np.ceil(np.log2(2 * emax + 2)))
            print(f"step={step:5d} huber={loss.item():.3e} mean_err_slots={emean:9.1f} "
                  f"max_err_slots={emax:9.1f} probe_depth={window:2d} t={time.time() - t0:5.1f}s")

    # use the model as an index: search only inside the guaranteed error window
    emax, emean = position_errors()
    win = int(np.ceil(emax)) + 1
    queries = rng.choice(keys, size=2000, replace=False)
    qn = mx.array(np.clip((queries - mu) / sd, -3.0, 3.0).astype(np.float32))
    guess = np.rint(np.array(model(qn)) * (n - 1)).astype(np.int64)
    found = 0
    for q, g in zip(queries, guess):
        lo, hi = max(0, g - win), min(n, g + win + 1)
        j = lo + np.searchsorted(keys[lo:hi], q)
        found += int(j < n and keys[j] == q)
    print(f"lookup check: {found}/{len(queries)} keys found inside +/-{win} slots "
          f"(binary search over the full column needs {int(np.ceil(np.log2(n)))} probes, "
          f"window search needs {int(np.ceil(np.log2(2 * win + 1)))})")


if __name__ == "__main__":
    main()
