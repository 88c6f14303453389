"""Dog agility trials: 10/50/90 % quantiles of a clear-or-faulted run time (seconds).

Synthetic run log; the pinball loss has a hand-written VJP; learning rate warms
up from exactly 0; early stopping restores the best validation weights.
"""
import logging
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s | %(message)s")
log = logging.getLogger("agility.fit")

rng = np.random.default_rng(2024)
mx.random.seed(7)
TAUS = [0.1, 0.5, 0.9]


def simulate(n):
    length = rng.uniform(120, 200, n)          # course length, m
    obstacles = rng.integers(15, 23, n)
    weaves = rng.integers(0, 3, n)             # weave-pole sets
    height = rng.integers(0, 3, n)             # small / medium / large
    exper = rng.gamma(2.0, 2.5, n)             # handler years
    age = rng.uniform(1.5, 11, n)              # dog age, years
    sand = rng.random(n) < 0.4
    temp = rng.uniform(5, 32, n)
    speed = (3.2 + 0.55 * height + 0.9 * (1 - np.exp(-exper / 4))
             - 0.04 * (age - 4) ** 2 * (age > 4) - 0.25 * sand - 0.02 * np.maximum(temp - 20, 0))
    t = length / speed + 0.6 * obstacles + 2.2 * weaves
    t = t + rng.normal(0, 1.0 + 0.08 * (t - 40).clip(0), n)
    refusals = rng.poisson(0.35 * np.exp(-exper / 6) + 0.05, n)   # right skew
    t = t + 4.0 * refusals
    X = np.stack([length, obstacles, weaves, height, exper, age, sand, temp], 1).astype(np.float32)
    return X, t.astype(np.float32)


Xtr, ytr = simulate(1500)
Xva, yva = simulate(600)
Xte, yte = simulate(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = float(ytr.mean()), float(ytr.std())
norm = lambda X: mx.array((X - mu) / sd)
Xtr_m, Xva_m, Xte_m = norm(Xtr), norm(Xva), norm(Xte)
ytr_m, yva_m, yte_m = mx.array((ytr - ymu) / ysd), mx.array((yva - ymu) / ysd), mx.array((yte - ymu) / ysd)
taus = mx.array(TAUS)


@mx.custom_function
def pinball(q, y, tau):
    d = y[:, None] - q
    return mx.mean(mx.maximum(tau * d, (tau - 1.0) * d))


@pinball.vjp
def pinball_vjp(primals, cotangent, output):
    q, y, tau = primals
    d = y[:, None] - q
    g = mx.where(d > 0, -tau, 1.0 - tau) / d.size
    return g * cotangent, mx.zeros_like(y), mx.zeros_like(tau)


class QuantileNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 96), nn.GELU(), nn.Linear(96, 96), nn.GELU())
        self.mid = nn.Linear(96, 1)
        self.spread = nn.Linear(96, 2)

    def __call__(self, x):
        h = self.body(x)
        m = self.mid(h)
        s = nn.softplus(self.spread(h))
        return mx.concatenate([m - s[:, :1], m, m + s[:, 1:]], axis=1)   # non-crossing


def loss_fn(model, x, y):
    return pinball(model(x), y, taus)


model = QuantileNet()
mx.eval(model.parameters())

# audit: the hand-written VJP must match autodiff of the same formula
q0 = model(Xtr_m[:64])
auto = mx.grad(lambda q: mx.mean(mx.maximum(taus * (ytr_m[:64, None] - q), (taus - 1) * (ytr_m[:64, None] - q))))(q0)
mine = mx.grad(lambda q: pinball(q, ytr_m[:64], taus))(q0)
log.info("vjp audit: max|custom - autodiff| = %.2e", mx.abs(auto - mine).max().item())

WARM, PEAK = 60, 1.2e-3
sched = optim.join_schedules([optim.linear_schedule(0.0, PEAK, WARM),
                              optim.cosine_decay(PEAK, 4000, 1e-4)], [WARM])
opt = optim.RMSprop(learning_rate=sched, alpha=0.95)
step_fn = nn.value_and_grad(model, loss_fn)

g0 = step_fn(model, Xtr_m[:128], ytr_m[:128])[1]
log.info("grad audit: %d/%d tensors non-zero",
         sum(int(mx.abs(a).sum().item() > 0) for _, a in tree_flatten(g0)), len(tree_flatten(g0)))


def report(X, y_m, y_raw):
    q = model(X)
    per = [float(mx.mean(mx.maximum(t * (y_m - q[:, i]), (t - 1) * (y_m - q[:, i]))).item()) * ysd
           for i, t in enumerate(TAUS)]
    qs = np.array(q) * ysd + ymu
    cover = float(np.mean((y_raw >= qs[:, 0]) & (y_raw <= qs[:, 2]))) * 100
    return per, cover


base_q = np.quantile(ytr, TAUS)
base = [float(np.mean(np.maximum(t * (yva - b), (t - 1) * (yva - b)))) for t, b in zip(TAUS, base_q)]
log.info("constant-quantile baseline on val: pinball s q10 %.3f q50 %.3f q90 %.3f (mean %.3f)",
         *base, np.mean(base))

BS, MAX_EP, PATIENCE = 32, 120, 10
best, best_ep, wait, best_state = float("inf"), 0, 0, None
for ep in range(1, MAX_EP + 1):
    perm = rng.permutation(len(ytr))
    tot = 0.0
    for b in range(0, len(perm), BS):
        idx = mx.array(perm[b:b + BS])
        loss, grads = step_fn(model, Xtr_m[idx], ytr_m[idx])
        opt.update(model, grads)
        mx.eval(loss, model.parameters(), opt.state)
        tot += loss.item() * len(idx)
    per, cover = report(Xva_m, yva_m, yva)
    val = float(np.mean(per))
    lr = opt.learning_rate.item()
    flag = ""
    if val < best - 1e-4:
        best, best_ep, wait = val, ep, 0
        best_state = tree_map(lambda a: mx.array(a), model.parameters())
        flag = " *"
    else:
        wait += 1
    if ep <= 3 or ep % 5 == 0 or flag == "" and wait >= PATIENCE:
        log.info("ep %03d lr %.2e | train %.4f (std units) | val pinball s q10 %.3f q50 %.3f q90 %.3f mean %.3f "
                 "(baseline %.3f) | 80%% band covers %.1f%%%s",
                 ep, lr, tot / len(ytr), per[0], per[1], per[2], val, np.mean(base), cover, flag)
    if wait >= PATIENCE:
        log.info("early stop at ep %d: no val gain for %d epochs, restoring ep %d (val %.3f)",
                 ep, PATIENCE, best_ep, best)
        break

model.update(best_state)
mx.eval(model.parameters())
per, cover = report(Xte_m, yte_m, yte)
tb = [float(np.mean(np.maximum(t * (yte - b), (t - 1) * (yte - b)))) for t, b in zip(TAUS, base_q)]
log.info("TEST (restored) pinball s q10 %.3f q50 %.3f q90 %.3f | baseline %.3f %.3f %.3f | 80%% band covers %.1f%% (target 80%%)",
         *per, *tb, cover)
