# Hurdle Poisson count regression: a logistic "any purchase?" gate and a
# zero-truncated Poisson for how many, sharing one small trunk.
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
N, F = 6000, 4
Xn = rng.normal(size=(N, F)).astype(np.float32)
true_gate = 0.3 + 1.2 * Xn[:, 0] - 0.8 * Xn[:, 1]
true_lograte = 0.6 + 0.5 * np.tanh(Xn[:, 2]) + 0.4 * Xn[:, 0] * Xn[:, 3]
pi = 1 / (1 + np.exp(-true_gate))
lam = np.exp(true_lograte)
y = np.zeros(N, dtype=np.float32)
pos = rng.random(N) < pi
for i in np.where(pos)[0]:           # zero-truncated Poisson by rejection
    k = 0
    while k == 0:
        k = rng.poisson(lam[i])
    y[i] = k
lgam = np.array([math.lgamma(v + 1) for v in y], dtype=np.float32)


def hurdle_nll_np(pi_, lam_, y_, lg_):
    out = np.where(y_ == 0, -np.log(1 - pi_),
                   -np.log(pi_) - (y_ * np.log(lam_) - lam_ - lg_ - np.log(-np.expm1(-lam_))))
    return out.mean()


split = 4800
X, Y, LG = mx.array(Xn), mx.array(y), mx.array(lgam)
Xtr, Ytr, LGtr = X[:split], Y[:split], LG[:split]
Xva, Yva, LGva = X[split:], Y[split:], LG[split:]
oracle = hurdle_nll_np(pi[split:], lam[split:], y[split:], lgam[split:])


class Hurdle(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(F, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh())
        self.gate = nn.Linear(32, 1)
        self.rate = nn.Linear(32, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.gate(h).squeeze(-1), self.rate(h).squeeze(-1)


def nll(model, x, y, lg):
    g, lr = model(x)
    lam_ = mx.exp(lr)
    log_pi = -nn.softplus(-g)
    log_1mpi = -nn.softplus(g)
    log_trunc = mx.log(-mx.expm1(-lam_))
    pos_ll = log_pi + y * lr - lam_ - lg - log_trunc
    return -mx.mean(mx.where(y > 0, pos_ll, log_1mpi))


model = Hurdle()
mx.eval(model.parameters())
_, g0 = nn.value_and_grad(model, nll)(model, Xtr[:256], Ytr[:256], LGtr[:256])
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(f"(setup) {len(tree_flatten(g0))} grad leaves, all-zero leaves: {zero or 'none'}; oracle val nll {oracle:.4f}")

opt = optim.RMSprop(learning_rate=3e-3)
step_fn = nn.value_and_grad(model, nll)
t0 = time.time()
for epoch in range(1, 41):
    perm = mx.array(rng.permutation(split))
    tot, nb = 0.0, 0
    for i in range(0, split, 96):
        b = perm[i:i + 96]
        loss, grads = step_fn(model, Xtr[b], Ytr[b], LGtr[b])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item(); nb += 1
    if epoch in (1, 2, 5) or epoch % 10 == 0:
        g, lr = model(Xva)
        p0_pred = mx.mean(mx.sigmoid(-g)).item()
        lam_ = mx.exp(lr)
        mean_pred = mx.mean(mx.sigmoid(g) * lam_ / (-mx.expm1(-lam_))).item()
        v = nll(model, Xva, Yva, LGva).item()
        print(f"---------- RECEIPT #{epoch:02d} ----------")
        print(f"train nll (epoch mean) {'.' * 6} {tot / nb:8.4f}")
        print(f"val nll {'.' * 21} {v:8.4f}")
        print(f"  vs oracle {'.' * 17} {v - oracle:+8.4f}")
        print(f"P(zero) obs/pred {'.' * 8} {float(np.mean(y[split:] == 0)):.3f}/{p0_pred:.3f}")
        print(f"mean count obs/pred {'.' * 5} {float(np.mean(y[split:])):.2f}/{mean_pred:.2f}")
        print(f"elapsed {'.' * 21} {time.time() - t0:6.1f}s")
print("---------------------------------")
print("thank you for training")
