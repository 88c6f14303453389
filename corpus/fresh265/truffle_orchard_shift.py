"""Truffle orchard survey: yield per tree (g) regressed from site readings.

The labelled survey comes from young orchards; the trees we must predict for
are older and sit on more alkaline soil. Stage 1 fits a small classifier that
tells survey rows from target rows; its odds give per-row importance weights.
Stage 2 fits the yield model twice, once plain and once with those weights,
and both are scored on labelled target rows held back for evaluation.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)

N_SRC, N_TGT, N_TGT_EVAL = 4000, 3000, 1500


def site_rows(n, age_mu, ph_mu):
    age = rng.normal(age_mu, 2.0, n)            # tree age, years
    ph = rng.normal(ph_mu, 0.35, n)             # soil pH
    rain = rng.normal(0.0, 1.0, n)              # summer rain anomaly
    shade = rng.uniform(0.0, 1.0, n)            # canopy shade fraction
    return np.stack([age, ph, rain, shade], axis=1).astype(np.float32)


def yield_g(x):
    age, ph, rain, shade = x.T
    # made-up law: production ramps with age then saturates, and peaks near pH 7.9
    y = (
        60.0 * np.tanh((age - 6.0) / 4.0)
        - 45.0 * (ph - 7.9) ** 2
        + 12.0 * rain
        - 20.0 * (shade - 0.4) ** 2
        + 80.0
    )
    return (y + rng.normal(0.0, 6.0, len(y))).astype(np.float32)


x_src = site_rows(N_SRC, age_mu=6.0, ph_mu=7.4)
x_tgt = site_rows(N_TGT, age_mu=11.0, ph_mu=8.0)
x_eval = site_rows(N_TGT_EVAL, age_mu=11.0, ph_mu=8.0)
y_src = yield_g(x_src)
y_eval = yield_g(x_eval)

mu = x_src.mean(0)
sd = x_src.std(0)
ys_mu, ys_sd = y_src.mean(), y_src.std()


def norm(x):
    return mx.array((x - mu) / sd)


Xs, Xt, Xe = norm(x_src), norm(x_tgt), norm(x_eval)
Ys = mx.array((y_src - ys_mu) / ys_sd)
Ye = mx.array(y_eval)

# ---------------------------------------------------------------- stage 1
print("stage 1: survey-vs-target classifier")
clf = nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 1))
mx.eval(clf.parameters())
X_dom = mx.concatenate([Xs, Xt], axis=0)
y_dom = mx.concatenate([mx.zeros(N_SRC), mx.ones(N_TGT)])


def dom_loss(m, x, y):
    return nn.losses.binary_cross_entropy(m(x).squeeze(-1), y, reduction="mean")


opt_c = optim.Adam(learning_rate=3e-3)
dom_step = nn.value_and_grad(clf, dom_loss)
n_dom = X_dom.shape[0]
for ep in range(1, 31):
    perm = mx.array(rng.permutation(n_dom))
    tot, nb = 0.0, 0
    for i in range(0, n_dom, 256):
        idx = perm[i : i + 256]
        l, g = dom_step(clf, X_dom[idx], y_dom[idx])
        opt_c.update(clf, g)
        mx.eval(clf.parameters(), opt_c.state)
        tot += l.item()
        nb += 1
    if ep % 5 == 0:
        acc = ((clf(X_dom).squeeze(-1) > 0) == (y_dom > 0.5)).astype(mx.float32).mean().item()
        print(f"  epoch {ep:2d}  domain bce {tot / nb:.4f}  domain acc {acc:.3f}")

# odds p/(1-p) = exp(logit), times N_SRC/N_TGT for the class prior
logit_s = clf(Xs).squeeze(-1)
w = mx.exp(mx.clip(logit_s, -8.0, 8.0)) * (N_SRC / N_TGT)
w = mx.minimum(w, mx.array(np.quantile(np.array(w), 0.99)))
w = w / w.mean()
mx.eval(w)
w_np = np.array(w)
ess = (w_np.sum() ** 2) / (w_np ** 2).sum()
print(f"  weights: min {w_np.min():.3f}  median {np.median(w_np):.3f}  max {w_np.max():.2f}  "
      f"effective sample size {ess:.0f} of {N_SRC}")

# ---------------------------------------------------------------- stage 2


class YieldNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(4, 8)
        self.l2 = nn.Linear(8, 1)

    def __call__(self, x):
        return self.l2(nn.relu(self.l1(x))).squeeze(-1)


def weighted_mse(m, x, y, wt):
    return (wt * (m(x) - y) ** 2).sum() / wt.sum()


TOTAL = 1500
WARM = 150
PEAK = 4e-3


def lr_at(step):
    if step < WARM:
        return PEAK * step / WARM          # starts at exactly 0.0
    t = (step - WARM) / (TOTAL - WARM)
    return PEAK * 0.5 * (1.0 + math.cos(math.pi * t))


def fit(tag, wt):
    mx.random.seed(11)
    m = YieldNet()
    mx.eval(m.parameters())
    opt = optim.Adam(learning_rate=0.0)
    step_fn = nn.value_and_grad(m, weighted_mse)
    for step in range(TOTAL):
        opt.learning_rate = lr_at(step)
        idx = mx.array(rng.integers(0, N_SRC, 128))
        l, g = step_fn(m, Xs[idx], Ys[idx], wt[idx])
        opt.update(m, g)
        mx.eval(m.parameters(), opt.state)
        if step % 300 == 0 or step == TOTAL - 1:
            print(f"  [{tag}] step {step:4d}  lr {lr_at(step):.2e}  train wmse {l.item():.4f}")
    pred = m(Xe) * ys_sd + ys_mu
    rmse = mx.sqrt(((pred - Ye) ** 2).mean()).item()
    return rmse


print("stage 2: yield model")
t0 = time.time()
rmse_plain = fit("plain", mx.ones(N_SRC))
rmse_wt = fit("weighted", w)
rmse_mean = float(np.sqrt(((y_eval - ys_mu) ** 2).mean()))
rmse_tmean = float(np.sqrt(((y_eval - y_eval.mean()) ** 2).mean()))
print(f"target rows RMSE (g): survey-mean {rmse_mean:.2f}  target-mean oracle {rmse_tmean:.2f}  "
      f"plain {rmse_plain:.2f}  weighted {rmse_wt:.2f}")
print(f"stage 2 took {time.time() - t0:.1f}s")
