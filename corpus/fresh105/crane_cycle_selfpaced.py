"""Self-paced learning for quay-crane cycle times.

Container moves logged by the terminal operating system contain gross errors
(moves paused for a lashing gang, a twin-lift logged as two, clock resets...).
Self-paced learning starts from the easy moves only: a sample is admitted when its
current squared error is below a threshold lambda.  Each epoch lambda is re-set to the
pace-quantile of the current errors, and the pace grows from 35% of the log to a cap of
85% (below the share of clean records), so harder moves come in step by step while
most logging errors stay out.  The admitted-sample objective therefore rises over the
epochs while the error on a clean audit set falls.
"""
from functools import partial
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

COLS = ("row", "tier", "weight_t", "wind_ms", "twin", "night", "driver_xp", "hatch_cover")


def simulate_moves(n, rng, gross_share):
    row = rng.integers(1, 23, n).astype(np.float32)         # bay row from the waterside rail
    tier = rng.integers(1, 10, n).astype(np.float32)        # tier in the hold / on deck
    weight = rng.uniform(2, 32, n).astype(np.float32)       # tonnes
    wind = rng.gamma(2.0, 3.0, n).astype(np.float32)        # m/s
    twin = (rng.random(n) < 0.3).astype(np.float32)
    night = (rng.random(n) < 0.35).astype(np.float32)
    xp = rng.uniform(0, 20, n).astype(np.float32)           # driver years
    hatch = (rng.random(n) < 0.05).astype(np.float32)
    secs = (55 + 2.4 * row + 3.1 * np.abs(tier - 4.5) ** 1.4 + 0.35 * weight
            + 0.12 * wind ** 2 * (1 + 0.5 * twin) + 9 * twin + 6 * night
            - 14 * (1 - np.exp(-xp / 5)) + 70 * hatch)
    secs = secs + rng.normal(0, 4.0, n)
    bad = rng.random(n) < gross_share
    secs = np.where(bad, secs + rng.uniform(60, 600, n), secs)   # logging errors: far too long
    x = np.stack([row, tier, weight, wind, twin, night, xp, hatch], 1)
    return x, secs.astype(np.float32), bad


class CycleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(len(COLS), 64), nn.GELU(),
                                  nn.Linear(64, 64), nn.GELU())
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        return self.head(self.body(x)).squeeze(-1)


def weighted_sq(model, x, y, lam):
    err = (model(x) - y) ** 2
    v = mx.stop_gradient(err < lam).astype(err.dtype)           # self-paced sample weights
    obj = (v * err).sum() / mx.maximum(v.sum(), 1.0)
    return obj, v.mean()


def main():
    t0 = time.perf_counter()
    rng = np.random.default_rng(2024)
    x_tr, s_tr, bad_tr = simulate_moves(16000, rng, gross_share=0.12)
    x_au, s_au, _ = simulate_moves(3000, rng, gross_share=0.0)       # audited, clean
    mu, sd = x_tr.mean(0), x_tr.std(0)
    y_mu, y_sd = float(np.median(s_tr)), 20.0
    X = mx.array((x_tr - mu) / sd)
    Y = mx.array((s_tr - y_mu) / y_sd)
    XA = mx.array((x_au - mu) / sd)
    SA = mx.array(s_au)

    mx.random.seed(5)
    model = CycleNet()
    opt = optim.Adagrad(learning_rate=0.05)
    vg = nn.value_and_grad(model, weighted_sq)

    _, g0 = vg(model, X[:512], Y[:512], mx.array(1e9))
    zero_leaves = [k for k, g in tree_flatten(g0) if not bool(mx.any(g != 0))]
    print(f"moves: {len(s_tr)} logged ({bad_tr.mean() * 100:.1f}% with logging errors), "
          f"{len(s_au)} audited; grad leaves {len(tree_flatten(g0))}, zero: {zero_leaves or 'none'}")

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y, lam):
        (obj, kept), grads = vg(model, x, y, lam)
        opt.update(model, grads)
        return obj, kept

    def audit_mae():
        pred = model(XA) * y_sd + y_mu
        return float(mx.mean(mx.abs(pred - SA)))

    def train_errors():
        return np.array((model(X) - Y) ** 2)

    print(f"untrained: audit MAE {audit_mae():.1f} s")
    header = (f"{'ep':>3} {'pace%':>6} {'lambda':>8} {'admit%@start':>13} {'bad_in%':>8} "
              f"{'sp_obj':>8} {'audit_MAE_s':>12} {'secs':>6}")
    print(header)
    print("-" * len(header))

    epochs, bs = 14, 128
    n = X.shape[0]
    for ep in range(1, epochs + 1):
        pace = min(0.35 + 0.07 * (ep - 1), 0.85)
        err = train_errors()                       # full pass over the log, no update
        lam = float(np.quantile(err, pace))
        admitted = err < lam
        adm = admitted.mean() * 100
        bad_in = (admitted & bad_tr).sum() / bad_tr.sum() * 100
        perm = mx.array(rng.permutation(n))
        lam_arr = mx.array(lam)
        tot, cnt = 0.0, 0
        for i in range(0, n - bs + 1, bs):
            idx = perm[i:i + bs]
            obj, kept = step(X[idx], Y[idx], lam_arr)
            mx.eval(obj, kept, state)
            tot += obj.item()
            cnt += 1
        print(f"{ep:>3} {pace * 100:>6.0f} {lam:>8.4f} {adm:>13.1f} {bad_in:>8.1f} {tot / cnt:>8.4f} "
              f"{audit_mae():>12.2f} {time.perf_counter() - t0:>6.1f}")

    naive = float(np.mean(np.abs(s_au - np.median(s_tr))))
    print(f"done: audit MAE {audit_mae():.2f} s (median-only guess {naive:.2f} s, "
          f"irreducible noise ~3.2 s)")


if __name__ == "__main__":
    main()
