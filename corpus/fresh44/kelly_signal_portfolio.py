"""Growth-optimal (Kelly) allocation policy learned from noisy daily returns.

Six synthetic assets plus cash.  Expected returns depend on two observable
signals (a trend signal per asset and a shared "risk-on" factor), so a policy
network mapping signals -> long-only softmax weights can beat equal weighting.
Objective: maximise mean log(1 + w . r) (log-growth), i.e. minimise its negative.
Optimizer: optim.Lion (sign updates, decoupled weight decay); every batch is a
fresh draw of days, so the objective is very noisy.  Reports are pprint'ed dicts.
"""
import math
import pprint
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

N_ASSETS = 6
VOL = np.array([0.010, 0.012, 0.015, 0.018, 0.022, 0.028])
BETA = np.array([0.2, 0.4, 0.7, 0.9, 1.2, 1.5])


def simulate_days(rng, n):
    trend = rng.normal(0, 1, (n, N_ASSETS))
    risk_on = rng.normal(0, 1, (n, 1))
    mu = 0.0004 * trend + 0.0006 * risk_on * BETA - 0.0001
    common = rng.normal(0, 0.008, (n, 1)) * BETA
    r = mu + common + rng.normal(0, 1, (n, N_ASSETS)) * VOL
    feats = np.concatenate([trend, risk_on], axis=1).astype(np.float32)
    return mx.array(feats), mx.array(r.astype(np.float32))


class AllocationPolicy(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(N_ASSETS + 1, hidden), nn.SiLU(),
                                  nn.Linear(hidden, hidden), nn.SiLU())
        self.logits = nn.Linear(hidden, N_ASSETS + 1)   # last slot = cash

    def __call__(self, feats):
        return mx.softmax(self.logits(self.body(feats)), axis=-1)


def neg_log_growth(policy, feats, r):
    w = policy(feats)
    port = mx.sum(w[:, :N_ASSETS] * r, axis=1)          # cash earns 0
    return -mx.mean(mx.log1p(port))


def stats(daily):
    daily = np.asarray(daily)
    g = np.mean(np.log1p(daily)) * 252
    sharpe = np.mean(daily) / (np.std(daily) + 1e-12) * math.sqrt(252)
    return g, sharpe


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    policy = AllocationPolicy()
    opt = optim.Lion(learning_rate=3e-4, weight_decay=1e-3)
    grad_fn = nn.value_and_grad(policy, neg_log_growth)
    fv, rv = simulate_days(rng, 20000)

    f0, r0 = simulate_days(rng, 512)
    _, g0 = grad_fn(policy, f0, r0)
    pprint.pprint({"first_step_grad_absmax": {k: float(mx.abs(v).max())
                                              for k, v in tree_flatten(g0)}})

    ew = stats(np.array(mx.mean(rv, axis=1)))
    t0 = time.time()
    running = []
    for step in range(1, 2401):
        f, r = simulate_days(rng, 512)
        loss, grads = grad_fn(policy, f, r)
        opt.update(policy, grads)
        mx.eval(policy.parameters(), opt.state, loss)
        running.append(-loss.item())
        if step % 300 == 0:
            w = policy(fv)
            daily = np.array(mx.sum(w[:, :N_ASSETS] * rv, axis=1))
            g, s = stats(daily)
            pprint.pprint({"step": step,
                           "train_log_growth_per_day(avg300)": round(float(np.mean(running)), 6),
                           "val_log_growth_annual": round(float(g), 4),
                           "val_sharpe": round(float(s), 3),
                           "mean_cash_weight": round(float(mx.mean(w[:, -1]).item()), 3),
                           "elapsed_s": round(time.time() - t0, 1)},
                          sort_dicts=False, width=120)
            running = []
    pprint.pprint({"reference_equal_weight": {"val_log_growth_annual": round(float(ew[0]), 4),
                                              "val_sharpe": round(float(ew[1]), 3)},
                   "reference_all_cash": {"val_log_growth_annual": 0.0}}, width=120)


if __name__ == "__main__":
    main()
