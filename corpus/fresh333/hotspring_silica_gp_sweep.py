"""Hot-spring terrace survey: silica deposition rate (mm/yr) from six field readings.

The learning rate and weight decay of AdamW are chosen by a small Bayesian
optimisation loop (numpy Gaussian-process surrogate + expected improvement).
Every trial builds its own model, optimizer and compiled step.  The best
setting is then refitted on train+valid and scored on the held-out test set.
"""
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)


def make_sites(n):
    temp = rng.uniform(40, 98, n)          # outflow temperature C
    ph = rng.uniform(5.5, 9.5, n)
    flow = rng.lognormal(0.0, 0.6, n)      # L/s
    silica = rng.uniform(150, 650, n)      # ppm
    wind = rng.gamma(2.0, 1.5, n)          # m/s
    shade = rng.uniform(0, 1, n)
    supersat = np.clip(silica / 300.0 - 0.004 * (temp - 40), 0, None)
    rate = (2.2 * supersat ** 1.4 * np.exp(-0.5 * (ph - 8.0) ** 2)
            + 0.6 * np.log1p(flow) * (1 + 0.15 * wind)
            - 0.5 * shade + 0.02 * (98 - temp))
    rate = rate + rng.normal(0, 0.25, n)
    X = np.stack([temp, ph, np.log(flow), silica, wind, shade], axis=1)
    return X.astype(np.float32), rate.astype(np.float32)


X_all, y_all = make_sites(6000)
Xtr, ytr = X_all[:4000], y_all[:4000]
Xva, yva = X_all[4000:5000], y_all[4000:5000]
Xte, yte = X_all[5000:], y_all[5000:]
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()


def prep(X, y):
    return mx.array((X - mu) / sd), mx.array((y - ymu) / ysd)


tr, va, te = prep(Xtr, ytr), prep(Xva, yva), prep(Xte, yte)


class Terrace(nn.Module):
    def __init__(self, width=48):
        super().__init__()
        self.l1 = nn.Linear(6, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def batches(x, y, bs, seed):
    order = np.random.default_rng(seed).permutation(x.shape[0])
    for i in range(0, len(order) - bs + 1, bs):
        idx = mx.array(order[i:i + bs])
        yield x[idx], y[idx]


def fit(lr, wd, epochs, data, seed, schedule=None, tag=""):
    mx.random.seed(seed)
    model = Terrace()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=schedule if schedule is not None else lr,
                      weight_decay=wd)
    opt.init(model.trainable_parameters())
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
        opt.update(model, grads)
        return loss

    x, y = data
    for ep in range(epochs):
        tot, nb = 0.0, 0
        for xb, yb in batches(x, y, 128, seed * 100 + ep):
            loss = step(xb, yb)
            mx.eval(state)
            tot += loss.item()
            nb += 1
        model.eval()
        v = loss_fn(model, *va).item()
        model.train()
        print(f"  {tag} epoch {ep + 1}/{epochs}  train_mse {tot / nb:.4f}  valid_mse {v:.4f}")
    return model, v


# ---------------- Gaussian-process surrogate ----------------
def rbf(a, b, ls=0.9, amp=1.0):
    d = ((a[:, None, :] - b[None, :, :]) / ls) ** 2
    return amp * np.exp(-0.5 * d.sum(-1))


def gp_posterior(Xs, ys, Xq, noise=1e-3):
    m, s = ys.mean(), ys.std() + 1e-9
    yn = (ys - m) / s
    K = rbf(Xs, Xs) + noise * np.eye(len(Xs))
    L = np.linalg.cholesky(K)
    alpha = np.linalg.solve(L.T, np.linalg.solve(L, yn))
    Kq = rbf(Xq, Xs)
    mean = Kq @ alpha
    v = np.linalg.solve(L, Kq.T)
    var = np.clip(1.0 - (v ** 2).sum(0), 1e-12, None)
    return mean * s + m, np.sqrt(var) * s


def expected_improvement(mean, std, best):
    z = (best - mean) / std
    cdf = 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))
    pdf = np.exp(-0.5 * z ** 2) / math.sqrt(2 * math.pi)
    return (best - mean) * cdf + std * pdf


grid_lr = np.linspace(-5, -1, 33)
grid_wd = np.linspace(-5, -1, 17)
cands = np.array([[a, b] for a in grid_lr for b in grid_wd])

t0 = time.time()
EPOCHS = 5
history = []
# first design points: one very cautious corner on purpose, two random
design = [np.array([-5.0, -4.0])] + [cands[i] for i in rng.choice(len(cands), 2, replace=False)]
baseline_valid = float(np.mean((yva - ymu) ** 2) / ysd ** 2)
print(f"valid mse of predicting the train mean: {baseline_valid:.4f}")

for t in range(9):
    if t < len(design):
        pt = design[t]
        how = "design"
    else:
        Xs = np.array([h[0] for h in history])
        ys = np.array([h[1] for h in history])
        mean, std = gp_posterior(Xs, ys, cands)
        ei = expected_improvement(mean, std, ys.min())
        pt = cands[int(np.argmax(ei))]
        how = f"EI={ei.max():.4f}"
    lr, wd = float(10 ** pt[0]), float(10 ** pt[1])
    print(f"trial {t}  ({how})  lr {lr:.2e}  wd {wd:.2e}")
    _, v = fit(lr, wd, EPOCHS, tr, seed=11 + t, tag=f"t{t}")
    history.append((pt, math.log(v)))
    print(f"trial {t} done  valid_mse {v:.4f}  best so far {math.exp(min(h[1] for h in history)):.4f}")

best_pt, best_obj = min(history, key=lambda h: h[1])
blr, bwd = float(10 ** best_pt[0]), float(10 ** best_pt[1])
print(f"chosen lr {blr:.2e}  wd {bwd:.2e}  (valid_mse {math.exp(best_obj):.4f})")

# ---------------- refit on train+valid, warm-up from exactly 0 ----------------
full = (mx.concatenate([tr[0], va[0]]), mx.concatenate([tr[1], va[1]]))
steps_per_epoch = full[0].shape[0] // 128
REFIT_EPOCHS = 10
warm = steps_per_epoch
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, blr, warm),
     optim.cosine_decay(blr, steps_per_epoch * REFIT_EPOCHS - warm, blr * 0.05)],
    [warm])
model, _ = fit(blr, bwd, REFIT_EPOCHS, full, seed=99, schedule=sched, tag="refit")
model.eval()
pred = np.array(model(te[0])) * ysd + ymu
rmse = float(np.sqrt(np.mean((pred - yte) ** 2)))
base = float(np.sqrt(np.mean((ytr.mean() - yte) ** 2)))
print(f"test RMSE {rmse:.3f} mm/yr   mean-predictor RMSE {base:.3f} mm/yr   "
      f"ratio {rmse / base:.3f}")
print(f"elapsed {time.time() - t0:.1f}s")
