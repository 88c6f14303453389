"""Carillon bell tuning helper: predict how far (in cents) a bell's tierce partial
sits from a minor third, from five made-up profile measurements.
First a learning-rate range test (Smith-style exponential sweep) on a throwaway copy,
then the real run from fresh weights at a lr picked from the sweep."""
import logging, math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("carillon")

rng = np.random.default_rng(7)
N = 6000
# features: waist thickness ratio, lip thickness ratio, flare angle, shoulder radius ratio, bronze tin %
X = np.stack([rng.uniform(0.05, 0.12, N), rng.uniform(0.06, 0.10, N), rng.uniform(20, 40, N),
              rng.uniform(0.4, 0.7, N), rng.uniform(18, 24, N)], 1).astype(np.float32)
cents = (900 * (X[:, 0] - 0.085) - 650 * (X[:, 1] - 0.08) ** 1 * (1 + 0.02 * (X[:, 2] - 30))
         + 40 * np.sin((X[:, 3] - 0.55) * 12) + 3.0 * (X[:, 4] - 21) + 8 * (X[:, 2] - 30) / 10
         + rng.normal(0, 1.5, N)).astype(np.float32)
mu, sd = X.mean(0), X.std(0)
Xn = (X - mu) / sd
ymu, ysd = cents.mean(), cents.std()
yn = (cents - ymu) / ysd
tr, va = slice(0, 5000), slice(5000, N)
Xtr, ytr, Xva, yva = map(mx.array, (Xn[tr], yn[tr], Xn[va], yn[va]))


class TierceNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 128)
        self.l2 = nn.Linear(128, 128)
        self.out = nn.Linear(128, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def batches(bs, seed):
    perm = np.random.default_rng(seed).permutation(5000)
    for i in range(0, 5000 - bs + 1, bs):
        idx = mx.array(perm[i:i + bs])
        yield Xtr[idx], ytr[idx]


# ---- phase 1: lr range test ----
mx.random.seed(0)
probe = TierceNet()
popt = optim.SGD(learning_rate=1e-4, momentum=0.9)
pstep = nn.value_and_grad(probe, loss_fn)
lrs = np.geomspace(1e-4, 10.0, 60)
sweep = []
it = batches(64, 123)
log.info("lr range test: %d steps, lr %.0e -> %.0e", len(lrs), lrs[0], lrs[-1])
smooth = None
for i, lr in enumerate(lrs):
    try:
        xb, yb = next(it)
    except StopIteration:
        it = batches(64, 124 + i); xb, yb = next(it)
    popt.learning_rate = float(lr)
    l, g = pstep(probe, xb, yb)
    popt.update(probe, g)
    mx.eval(probe.parameters(), popt.state, l)
    lv = l.item()
    smooth = lv if smooth is None else 0.8 * smooth + 0.2 * lv
    sweep.append((lr, smooth))
    if i % 10 == 0 or i == len(lrs) - 1:
        log.info("  sweep lr=%.2e smoothed_loss=%.4g", lr, smooth)
    if not math.isfinite(lv) or smooth > 50 * min(s for _, s in sweep):
        log.info("  sweep stopped at lr=%.2e (loss blew up: %.4g)", lr, lv)
        break
best_lr = min(sweep, key=lambda t: t[1])[0]
lr = float(best_lr / 10)
log.info("steepest-safe pick: min-loss lr %.2e / 10 -> %.2e", best_lr, lr)
del probe, popt

# ---- phase 2: real run from fresh weights ----
mx.random.seed(1)
model = TierceNet()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=lr, momentum=0.9)
step = nn.value_and_grad(model, loss_fn)

xb, yb = next(batches(64, 0))
_, g0 = step(model, xb, yb)
zero = [k for k, v in tree_flatten(g0) if mx.all(v == 0).item()]
log.info("first-step grad check: %d leaves, %d all-zero", len(tree_flatten(g0)), len(zero))


def within_cents(xs, ys, tol):
    pred = model(xs) * ysd + ymu
    true = ys * ysd + ymu
    return mx.mean(mx.abs(pred - true) <= tol).item() * 100.0


t0 = time.time()
for epoch in range(1, 31):
    tot, n = 0.0, 0
    for xb, yb in batches(64, epoch):
        l, g = step(model, xb, yb)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, l)
        tot += l.item(); n += 1
    vmse = loss_fn(model, Xva, yva).item()
    if epoch % 3 == 0 or epoch == 1:
        log.info("epoch %2d train_mse=%.4f val_rmse_cents=%.2f within_5c=%.1f%% within_2c=%.1f%%",
                 epoch, tot / n, math.sqrt(vmse) * ysd, within_cents(Xva, yva, 5.0), within_cents(Xva, yva, 2.0))
log.info("done in %.1fs", time.time() - t0)
