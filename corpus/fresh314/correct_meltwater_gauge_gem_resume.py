"""Glacier outlet gauge: daily discharge from weather, two hidden melt regimes.

Some days the stream is fed by seasonal snowmelt, other days by bare-ice melt;
the regime is not logged. We fit a 2-component mixture of linear regressions
(each with its own noise level) by generalised EM: every round the
responsibilities are recomputed exactly (E-step, held constant), then a few RMSprop
steps improve the expected complete-data objective (partial M-step).
The run is checkpointed half way, rebuilt from scratch and resumed.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(2024)


def simulate(n):
    pdd = rng.gamma(3.0, 2.0, n)             # positive degree-days (C d)
    rain = rng.exponential(4.0, n)           # mm
    doy = rng.uniform(150, 260, n)           # day of year
    p_ice = 1.0 / (1.0 + np.exp(-(doy - 205) / 12))
    ice = rng.random(n) < p_ice
    q_snow = 2.0 + 0.55 * pdd + 0.20 * rain + rng.normal(0, 0.6, n)
    q_ice = 4.5 + 1.35 * pdd + 0.05 * rain + rng.normal(0, 1.4, n)
    q = np.where(ice, q_ice, q_snow)
    feats = np.stack([pdd, rain, (doy - 205) / 30.0], 1).astype(np.float32)
    return feats, q.astype(np.float32), ice.astype(int)


f_tr, q_tr, z_tr = simulate(5000)
f_va, q_va, z_va = simulate(1500)
mu, sd = f_tr.mean(0), f_tr.std(0)
X_tr, X_va = mx.array((f_tr - mu) / sd), mx.array((f_va - mu) / sd)
Y_tr, Y_va = mx.array(q_tr), mx.array(q_va)
LOG2PI = math.log(2 * math.pi)


class MeltMixture(nn.Module):
    def __init__(self, k=2, d=3, seed=0):
        super().__init__()
        key = mx.random.key(seed)
        k1, k2 = mx.random.split(key)
        self.coef = 0.5 * mx.random.normal((k, d), key=k1)
        self.intercept = 6.0 + 2.0 * mx.random.normal((k,), key=k2)
        self.log_sigma = mx.zeros((k,))
        self.mix_logit = mx.zeros((k,))

    def log_joint(self, x, y):
        mean = x @ self.coef.T + self.intercept            # (N, K)
        z = (y[:, None] - mean) * mx.exp(-self.log_sigma)
        log_n = -0.5 * z * z - self.log_sigma - 0.5 * LOG2PI
        return log_n + nn.log_softmax(self.mix_logit)


def marginal_nll(m, x, y):
    return -mx.logsumexp(m.log_joint(x, y), axis=1).mean()


def expected_complete_nll(m, x, y, resp):
    return -(resp * m.log_joint(x, y)).sum(axis=1).mean()


def e_step(m, x, y):
    return mx.stop_gradient(mx.softmax(m.log_joint(x, y), axis=1))


# one linear regression for everything, as the yardstick
A = np.c_[np.array(X_tr), np.ones(len(q_tr))]
beta, *_ = np.linalg.lstsq(A, q_tr, rcond=None)
res = q_tr - A @ beta
s1 = res.std()
A_va = np.c_[np.array(X_va), np.ones(len(q_va))]
r_va = q_va - A_va @ beta
nll1_va = float(np.mean(0.5 * (r_va / s1) ** 2 + math.log(s1) + 0.5 * LOG2PI))
print(f"gauge days: train {len(q_tr)}  valid {len(q_va)}   single-regression valid nll {nll1_va:.4f}")

ROUNDS = 60
INNER = 30
SAVE_AFTER = 25


def run_rounds(model, opt, first, last, t0):
    step_fn = nn.value_and_grad(model, expected_complete_nll)
    for rnd in range(first, last + 1):
        resp = e_step(model, X_tr, Y_tr)
        q_start = expected_complete_nll(model, X_tr, Y_tr, resp).item()
        for _ in range(INNER):
            q_val, grads = step_fn(model, X_tr, Y_tr, resp)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, q_val)
        if rnd > 4 and rnd % 10 and rnd != last:
            continue
        nll_tr = marginal_nll(model, X_tr, Y_tr).item()
        nll_va = marginal_nll(model, X_va, Y_va).item()
        hard = np.array(e_step(model, X_va, Y_va)).argmax(1)
        acc = max((hard == z_va).mean(), (hard != z_va).mean())
        print(f"round {rnd:2d} | Q {q_start:7.4f} -> {q_val.item():7.4f} | nll train {nll_tr:.4f}"
              f" valid {nll_va:.4f} (1-reg {nll1_va:.4f}) | regime match {100 * acc:5.1f}%"
              f" | {time.time() - t0:4.1f}s")


t0 = time.time()
model = MeltMixture(seed=11)
opt = optim.RMSprop(learning_rate=0.05, alpha=0.9)
g0 = nn.value_and_grad(model, expected_complete_nll)(model, X_tr, Y_tr, e_step(model, X_tr, Y_tr))[1]
leaves = tree_flatten(g0)
print(f"gradient leaves: {sum(int(mx.any(g != 0).item()) for _, g in leaves)}/{len(leaves)} non-zero")
print(f"untrained marginal nll valid {marginal_nll(model, X_va, Y_va).item():.4f}")
run_rounds(model, opt, 1, SAVE_AFTER, t0)

with tempfile.TemporaryDirectory() as tmp:
    wpath = os.path.join(tmp, "melt.safetensors")
    opath = os.path.join(tmp, "melt_opt.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    before = marginal_nll(model, X_va, Y_va).item()
    del model, opt
    print(f"-- checkpoint written after round {SAVE_AFTER}; rebuilding from another seed")
    model = MeltMixture(seed=99)
    print(f"   fresh model valid nll {marginal_nll(model, X_va, Y_va).item():.4f}")
    model.load_weights(wpath)
    opt = optim.RMSprop(learning_rate=0.05, alpha=0.9)
    opt.state = tree_unflatten(list(mx.load(opath).items()))
    after = marginal_nll(model, X_va, Y_va).item()
    print(f"   restored valid nll {after:.4f} (saved {before:.4f}), optimizer step {int(opt.state['step'].item())}")

run_rounds(model, opt, SAVE_AFTER + 1, ROUNDS, t0)

w = np.array(mx.softmax(model.mix_logit))
sig = np.array(mx.exp(model.log_sigma))
coef = np.array(model.coef) / sd          # back to raw feature units
for k in np.argsort(sig):
    print(f"regime {k}: weight {w[k]:.3f}  sigma {sig[k]:.2f} m3/s  "
          f"dQ/dPDD {coef[k, 0]:.3f}  dQ/drain {coef[k, 1]:.3f}")
print(f"truth: snow sigma 0.60 slope 0.55/0.20, ice sigma 1.40 slope 1.35/0.05; finished in {time.time() - t0:.1f}s")
