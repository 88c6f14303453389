# Contextual newsvendor: a small bakery learns how many loaves to bake each
# morning from (weekday, forecast temperature, promo flag).  Demand is
# lognormal with a context-dependent median; unsold loaves are salvaged at a
# loss, unmet demand is lost sales.  The policy is trained directly on
# simulated profit (fresh demand draws every step -> noisy objective) and is
# compared with the analytic critical-fractile oracle.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

PRICE, COST, SALVAGE = 4.0, 1.5, 0.5
CRIT = (PRICE - COST) / (PRICE - SALVAGE)          # critical fractile
SIGMA = 0.35                                       # lognormal shape
Z = math.sqrt(2.0) * float(np.asarray(mx.erfinv(mx.array(2 * CRIT - 1))))

rng = np.random.default_rng(11)


def sample_context(n):
    dow = rng.integers(0, 7, n)
    temp = rng.normal(18.0, 7.0, n)
    promo = (rng.random(n) < 0.2).astype(np.float32)
    feats = np.concatenate([np.eye(7, dtype=np.float32)[dow],
                            ((temp - 18.0) / 7.0)[:, None].astype(np.float32),
                            promo[:, None]], axis=1)
    weekend = (dow >= 5).astype(np.float64)
    log_median = (np.log(120.0) + 0.45 * weekend - 0.012 * (temp - 18.0) ** 2 / 4
                  + 0.30 * promo)
    return mx.array(feats), mx.array(log_median.astype(np.float32))


def sample_demand(log_median):
    return mx.exp(log_median + SIGMA * mx.random.normal(log_median.shape))


def profit(q, d):
    sold = mx.minimum(q, d)
    return PRICE * sold - COST * q + SALVAGE * mx.maximum(q - d, 0.0)


class OrderPolicy(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(9, 48), nn.Tanh(), nn.Linear(48, 48), nn.Tanh())
        self.head = nn.Linear(48, 1)

    def __call__(self, x):
        # predict log-order around a 100-loaf prior
        return 100.0 * mx.exp(self.head(self.body(x)).squeeze(-1))


mx.random.seed(5)
policy = OrderPolicy()
mx.eval(policy.parameters())


def neg_profit(model, x, log_med):
    q = model(x)
    d = sample_demand(log_med)
    return -profit(q, d).mean() / 100.0


loss_and_grad = nn.value_and_grad(policy, neg_profit)

# one-off check: every parameter leaf receives gradient at the first step
x0, m0 = sample_context(256)
_, g0 = loss_and_grad(policy, x0, m0)
nz = sum(int(mx.any(v != 0).item()) for _, v in tree_flatten(g0))
print(f"grad check: {nz}/{len(tree_flatten(g0))} parameter leaves with non-zero gradient")

STEPS = 3000
sched = optim.cosine_decay(3e-3, STEPS, 3e-4)
opt = optim.Adam(learning_rate=sched)

x_ev, m_ev = sample_context(4000)
d_ev = [sample_demand(m_ev) for _ in range(8)]          # fixed evaluation days
q_oracle = mx.exp(m_ev + SIGMA * Z)
oracle = sum(profit(q_oracle, d).mean().item() for d in d_ev) / len(d_ev)
naive_q = mx.full(m_ev.shape, mx.exp(m_ev).mean().item())
naive = sum(profit(naive_q, d).mean().item() for d in d_ev) / len(d_ev)
print(f"critical fractile={CRIT:.3f}  oracle ${oracle:7.2f}/day   constant-order baseline ${naive:7.2f}/day")

t0 = time.time()
for step in range(1, STEPS + 1):
    x, m = sample_context(256)
    loss, grads = loss_and_grad(policy, x, m)
    opt.update(policy, grads)
    mx.eval(loss, policy.parameters(), opt.state)
    if step % 300 == 0 or step == 1:
        q = policy(x_ev)
        p = sum(profit(q, d).mean().item() for d in d_ev) / len(d_ev)
        fill = sum((mx.minimum(q, d).sum() / d.sum()).item() for d in d_ev) / len(d_ev)
        print(f"DAY {step:04d} | batch profit ${-100 * loss.item():7.2f} | eval profit ${p:7.2f} "
              f"| gap to oracle {100 * (oracle - p) / oracle:5.2f}% | fill rate {100 * fill:5.1f}% "
              f"| lr {opt.learning_rate.item():.2e} | {time.time() - t0:4.1f}s")
