"""Cultured pearl grading: proportional-odds (cumulative-link) ordinal model.

Grades 0..4 (A best .. E) from lagoon, oyster line and six numeric farm
readings.  Cut-points are kept ordered by building them from softplus steps.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(316)
N_TRAIN, N_VALID, K = 9000, 2000, 5
N_LAGOON, N_LINE = 7, 4


def make(n):
    lagoon = rng.integers(0, N_LAGOON, n)
    line = rng.integers(0, N_LINE, n)
    x = rng.normal(size=(n, 6)).astype(np.float32)  # culture months, temp, depth, nacre rate, spat age, turbidity
    lag_eff = np.linspace(-0.8, 0.8, N_LAGOON)[lagoon]
    line_eff = np.array([0.3, -0.2, 0.0, 0.5])[line]
    score = (1.1 * x[:, 0] - 0.7 * x[:, 1] ** 2 + 0.6 * x[:, 3] - 0.5 * x[:, 5]
             + 0.4 * x[:, 2] * x[:, 3] + lag_eff + line_eff)
    score = score + rng.logistic(scale=0.6, size=n)
    cuts = np.array([-1.6, -0.4, 0.6, 1.7])
    y = (score[:, None] > cuts[None]).sum(1)
    return lagoon.astype(np.int32), line.astype(np.int32), x, y.astype(np.int32)


tr = make(N_TRAIN)
va = make(N_VALID)
mu, sd = tr[2].mean(0), tr[2].std(0)
tr = (tr[0], tr[1], (tr[2] - mu) / sd, tr[3])
va = (va[0], va[1], (va[2] - mu) / sd, va[3])
TR = [mx.array(a) for a in tr]
VA = [mx.array(a) for a in va]


class PearlGrader(nn.Module):
    def __init__(self):
        super().__init__()
        self.lagoon = nn.Embedding(N_LAGOON, 4)
        self.line = nn.Embedding(N_LINE, 3)
        self.body = nn.Sequential(nn.Linear(6 + 4 + 3, 48), nn.SiLU(),
                                  nn.Linear(48, 48), nn.SiLU(), nn.Linear(48, 1))
        self.first_cut = mx.array([-1.0])
        self.gaps = mx.zeros((K - 2,))

    def cutpoints(self):
        steps = nn.softplus(self.gaps) + 1e-3
        return mx.concatenate([self.first_cut, self.first_cut + mx.cumsum(steps)])

    def __call__(self, lag, line, x):
        h = mx.concatenate([x, self.lagoon(lag), self.line(line)], axis=1)
        return self.body(h).squeeze(-1)


def class_probs(model, lag, line, x):
    eta = model(lag, line, x)
    c = model.cutpoints()
    cdf = mx.sigmoid(c[None, :] - eta[:, None])            # P(y <= k), k = 0..K-2
    ones = mx.ones((eta.shape[0], 1))
    zeros = mx.zeros((eta.shape[0], 1))
    upper = mx.concatenate([cdf, ones], axis=1)
    lower = mx.concatenate([zeros, cdf], axis=1)
    return mx.maximum(upper - lower, 1e-7)


def loss_fn(model, lag, line, x, y):
    p = class_probs(model, lag, line, x)
    return -mx.mean(mx.log(mx.take_along_axis(p, y[:, None], axis=1)))


def qwk(y, p, k=K):
    o = np.zeros((k, k))
    for a, b in zip(y, p):
        o[a, b] += 1
    w = np.array([[(i - j) ** 2 for j in range(k)] for i in range(k)]) / (k - 1) ** 2
    e = np.outer(o.sum(1), o.sum(0)) / o.sum()
    return 1.0 - (w * o).sum() / (w * e).sum()


def evaluate(model):
    p = class_probs(model, *VA[:3])
    nll = float(-mx.mean(mx.log(mx.take_along_axis(p, VA[3][:, None], axis=1))))
    pred = np.array(mx.argmax(p, axis=1))
    y = va[3]
    return nll, float(np.mean(np.abs(pred - y))), qwk(y, pred)


mx.random.seed(316)
model = PearlGrader()
opt = optim.Adagrad(learning_rate=0.05)
step_fn = nn.value_and_grad(model, loss_fn)

counts = np.bincount(tr[3], minlength=K)
prior = counts / counts.sum()
base_nll = float(-np.mean(np.log(prior[va[3]])))
base_mae = float(np.mean(np.abs(np.median(tr[3]) - va[3])))
print(f"ts=0.0 event=data n_train={N_TRAIN} n_valid={N_VALID} grade_shares="
      + ",".join(f"{s:.2f}" for s in prior))
print(f"ts=0.0 event=baseline kind=class_prior valid_nll={base_nll:.4f} valid_mae_grades={base_mae:.3f} qwk=0.000")

idx = mx.array(rng.permutation(N_TRAIN)[:128])
_, g0 = step_fn(model, TR[0][idx], TR[1][idx], TR[2][idx], TR[3][idx])
flat = tree_flatten(g0)
nz = sum(1 for _, g in flat if float(mx.abs(g).sum()) > 0)
print(f"ts=0.0 event=grad_check leaves={len(flat)} nonzero={nz}")

EPOCHS, BS, QUIET = 9, 96, 3
t0 = time.time()
print(f"ts={time.time()-t0:.1f} event=start epochs={EPOCHS} batch={BS} note=first_{QUIET}_epochs_unreported")
for ep in range(1, EPOCHS + 1):
    perm = rng.permutation(N_TRAIN)
    tot, nb = 0.0, 0
    for s in range(0, N_TRAIN - BS + 1, BS):
        ids = mx.array(perm[s:s + BS])
        loss, grads = step_fn(model, TR[0][ids], TR[1][ids], TR[2][ids], TR[3][ids])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    if ep <= QUIET:
        continue
    nll, mae, k = evaluate(model)
    cuts = " ".join(f"{c:.2f}" for c in np.array(model.cutpoints()))
    print(f"ts={time.time()-t0:.1f} event=epoch epoch={ep} train_nll={tot/nb:.4f} valid_nll={nll:.4f} "
          f"valid_mae_grades={mae:.3f} qwk={k:.3f} cuts=\"{cuts}\"")
nll, mae, k = evaluate(model)
print(f"ts={time.time()-t0:.1f} event=done valid_nll={nll:.4f} valid_mae_grades={mae:.3f} qwk={k:.3f}")
