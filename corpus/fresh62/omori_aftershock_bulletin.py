"""Fit the Omori-Utsu aftershock law to a synthetic catalogue by point-process MLE.

rate(t) = mu + K / (t + c)^p   (events/day), observed on [T0, T1] days after the mainshock.
log L = sum_i log rate(t_i) - integral_{T0}^{T1} rate(t) dt
"""
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
T0, T1 = 0.01, 120.0
TRUE = dict(mu=0.4, K=60.0, c=0.08, p=1.12)


def true_rate(t):
    return TRUE["mu"] + TRUE["K"] / (t + TRUE["c"]) ** TRUE["p"]


# thinning simulation of an inhomogeneous Poisson process (rate is decreasing)
lam_max = true_rate(T0)
t, events = T0, []
while True:
    t += rng.exponential(1.0 / lam_max)
    if t > T1:
        break
    if rng.uniform() < true_rate(t) / lam_max:
        events.append(t)
times = mx.array(np.array(events, dtype=np.float32))
N = len(events)


class Omori(nn.Module):
    def __init__(self):
        super().__init__()
        # unconstrained parametrisation
        self.log_mu = mx.array(0.0)
        self.log_K = mx.array(math.log(10.0))
        self.log_c = mx.array(math.log(0.5))
        self.p_raw = mx.array(0.0)  # p = 0.5 + softplus(p_raw)

    def params(self):
        mu = mx.exp(self.log_mu)
        K = mx.exp(self.log_K)
        c = mx.exp(self.log_c)
        p = 0.5 + nn.softplus(self.p_raw)
        return mu, K, c, p

    def __call__(self, t):
        mu, K, c, p = self.params()
        return mu + K * mx.power(t + c, -p)

    def integral(self):
        mu, K, c, p = self.params()
        q = 1.0 - p
        # integral of (t+c)^-p; handle p ~= 1 with a safe denominator
        q_safe = mx.where(mx.abs(q) < 1e-4, 1e-4, q)
        prim = (mx.power(T1 + c, q) - mx.power(T0 + c, q)) / q_safe
        return mu * (T1 - T0) + K * prim


def nll(model):
    lam = model(times)
    return -(mx.sum(mx.log(lam)) - model.integral()) / N


model = Omori()
opt = optim.Adam(learning_rate=optim.exponential_decay(0.05, 0.999))
loss_and_grad = nn.value_and_grad(model, nll)

print(f"% OMORI-UTSU BULLETIN  catalogue: {N} events in [{T0}, {T1}] days")
loss0, g0 = loss_and_grad(model)
flat = tree_flatten(g0)
zero = [k for k, v in flat if float(mx.max(mx.abs(v))) == 0.0]
print(f"% gradient leaves: {len(flat)}  zero-gradient leaves: {zero if zero else 'none'}")
print("%  iter      nll/event       mu        K        c        p")
start = time.time()
checkpoints = {1, 10, 50, 100, 250, 500, 1000, 2000, 3000}
for it in range(1, 3001):
    loss, grads = loss_and_grad(model)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it in checkpoints:
        mu, K, c, p = (float(x) for x in model.params())
        print(f"  {it:5d}  {float(loss):13.6f}  {mu:7.3f}  {K:7.2f}  {c:7.4f}  {p:7.4f}")
mu, K, c, p = (float(x) for x in model.params())
print(f"% fitted  mu={mu:.3f} K={K:.2f} c={c:.4f} p={p:.4f}")
print(f"% true    mu={TRUE['mu']:.3f} K={TRUE['K']:.2f} c={TRUE['c']:.4f} p={TRUE['p']:.4f}")
print(f"% expected count {float(model.integral()):.1f} vs observed {N}   ({time.time()-start:.1f}s)")
