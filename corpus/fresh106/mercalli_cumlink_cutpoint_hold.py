# Felt intensity (Modified Mercalli, levels II..VII) at a site, as an ordinal
# cumulative-link (proportional odds) model:
#   P(I <= k | x) = sigmoid(theta_k - eta(x))
# eta(x) is a small MLP, the cutpoints theta are ordered by construction
# (theta0 + cumsum(softplus(gaps))).  The cutpoints get their own SGD whose
# learning rate is held at exactly 0 for the first HOLD_STEPS steps, so they
# stay at their data-quantile start while the score network settles.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

LEVELS = ["II", "III", "IV", "V", "VI", "VII"]
K = len(LEVELS)
HOLD_STEPS = 400
EPOCHS = 14
BS = 128

rs = np.random.RandomState(2024)
mx.random.seed(2024)


def make_records(n):
    mag = rs.uniform(3.0, 7.0, n)
    log_dist = np.log10(rs.uniform(5.0, 250.0, n))
    depth = rs.gamma(2.0, 8.0, n)
    vs30 = rs.uniform(180.0, 900.0, n)
    masonry = (rs.rand(n) < 0.35).astype(np.float64)
    upper_floor = (rs.rand(n) < 0.3).astype(np.float64)
    hypo = np.sqrt((10 ** log_dist) ** 2 + depth ** 2)
    latent = (1.45 * mag - 2.9 * np.log10(hypo) - 0.0025 * hypo
              + 0.9 * np.log(760.0 / vs30) + 0.45 * masonry + 0.35 * upper_floor
              + 0.25 * np.sin(1.3 * mag) * masonry)
    latent += rs.logistic(0.0, 0.45, n)
    cuts = np.array([-0.3, 0.7, 1.6, 2.5, 3.4])
    y = np.searchsorted(cuts, latent)
    X = np.stack([mag, log_dist, np.log(depth + 1.0), np.log(vs30), masonry,
                  upper_floor], axis=1)
    return X.astype(np.float32), y.astype(np.int32)


Xtr, ytr = make_records(14000)
Xva, yva = make_records(3000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd


class CumulativeLink(nn.Module):
    def __init__(self, d_in, n_levels, init_cuts):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(d_in, 64), nn.SiLU(),
                                   nn.Linear(64, 64), nn.SiLU(),
                                   nn.Linear(64, 1))
        gaps = np.diff(init_cuts)
        self.theta0 = mx.array([init_cuts[0]], dtype=mx.float32)
        # inverse softplus so that softplus(gap_raw) == the initial gap
        self.gap_raw = mx.array(np.log(np.expm1(gaps)), dtype=mx.float32)

    def cutpoints(self):
        steps = mx.logaddexp(self.gap_raw, 0.0)
        return mx.concatenate([self.theta0, self.theta0 + mx.cumsum(steps)])

    def __call__(self, x):
        eta = self.score(x)                       # (B, 1)
        return mx.sigmoid(self.cutpoints()[None, :] - eta)   # P(y <= k), (B, K-1)


def level_probs(cdf):
    B = cdf.shape[0]
    full = mx.concatenate([mx.zeros((B, 1)), cdf, mx.ones((B, 1))], axis=1)
    return full[:, 1:] - full[:, :-1]


def nll(model, x, y):
    p = level_probs(model(x))
    py = mx.take_along_axis(p, y[:, None], axis=1).squeeze(1)
    return -mx.log(mx.maximum(py, 1e-9)).mean()


def spearman(a, b):
    ra = np.argsort(np.argsort(a + 1e-6 * rs.rand(len(a))))
    rb = np.argsort(np.argsort(b + 1e-6 * rs.rand(len(b))))
    return float(np.corrcoef(ra, rb)[0, 1])


def evaluate(model, X, y):
    p = level_probs(model(mx.array(X)))
    yy = mx.array(y)
    ll = -mx.log(mx.maximum(mx.take_along_axis(p, yy[:, None], axis=1), 1e-9)).mean()
    pred = np.array(mx.argmax(p, axis=1))
    err = np.abs(pred - y)
    return {"nll": ll.item(), "exact": 100.0 * float((err == 0).mean()),
            "within1": 100.0 * float((err <= 1).mean()), "mae": float(err.mean()),
            "rho": spearman(pred.astype(np.float64), y.astype(np.float64))}


# cutpoints start at the logits of the cumulative class shares
shares = np.cumsum(np.bincount(ytr, minlength=K))[:-1] / len(ytr)
init_cuts = np.log(shares / (1.0 - shares))
model = CumulativeLink(Xtr.shape[1], K, init_cuts)
mx.eval(model.parameters())

cut_lr = optim.join_schedules([lambda s: 0.0 * s, lambda s: 0.02 + 0.0 * s], [HOLD_STEPS])
opt = optim.MultiOptimizer(
    [optim.SGD(learning_rate=cut_lr, momentum=0.9),
     optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)],
    [lambda path, _: path.startswith("theta0") or path.startswith("gap_raw")],
)
loss_and_grad = nn.value_and_grad(model, nll)

print("records: train %d  valid %d  | level counts (train) %s"
      % (len(ytr), len(yva), " ".join("%s=%d" % (LEVELS[i], c)
                                      for i, c in enumerate(np.bincount(ytr, minlength=K)))))
majority = np.bincount(ytr, minlength=K).argmax()
print("always-%s baseline: exact %.1f%%  mae %.3f"
      % (LEVELS[majority], 100 * (yva == majority).mean(), np.abs(yva - majority).mean()))
m0 = evaluate(model, Xva, yva)
print("untrained: valid nll %.4f  exact %.1f%%" % (m0["nll"], m0["exact"]))

xb0, yb0 = mx.array(Xtr[:BS]), mx.array(ytr[:BS])
_, g0 = loss_and_grad(model, xb0, yb0)
flat = tree_flatten(g0)
dead = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
print("grad check: %d leaves, zero: %s" % (len(flat), dead or "none"))
cuts_start = np.array(model.cutpoints())

print()
print("%5s %6s %8s %9s %9s %8s %8s %7s %6s  %s" % (
    "epoch", "step", "cut_lr", "train_nll", "valid_nll", "exact%", "within1%",
    "mae", "rho", "cutpoints"))
step = 0
t0 = time.time()
steps_per_epoch = len(ytr) // BS
for epoch in range(1, EPOCHS + 1):
    order = rs.permutation(len(ytr))
    run = 0.0
    for b in range(steps_per_epoch):
        idx = mx.array(order[b * BS:(b + 1) * BS])
        loss, grads = loss_and_grad(model, mx.array(Xtr)[idx], mx.array(ytr)[idx])
        opt.update(model, grads)
        mx.eval(loss, model.parameters(), opt.state)
        run += loss.item()
        step += 1
        if step == HOLD_STEPS:
            held = np.abs(np.array(model.cutpoints()) - cuts_start).max()
            print("  .. step %d: cutpoints moved %.2e during the hold, releasing them"
                  % (step, held))
    m = evaluate(model, Xva, yva)
    cuts = " ".join("%.2f" % c for c in np.array(model.cutpoints()))
    print("%5d %6d %8.4f %9.4f %9.4f %8.1f %8.1f %7.3f %6.3f  [%s]" % (
        epoch, step, float(cut_lr(step)), run / steps_per_epoch, m["nll"],
        m["exact"], m["within1"], m["mae"], m["rho"], cuts))

print("\nfinished in %.1fs; valid mean |level error| %.3f (majority baseline %.3f)"
      % (time.time() - t0, m["mae"], np.abs(yva - majority).mean()))
