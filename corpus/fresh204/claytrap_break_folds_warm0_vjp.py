# Trap-shooting club: will the clay break? 4-fold cross-validation of a small MLP
# on synthetic range-log readings. Learning rate warms up from exactly 0 in each fold.
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s trap: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("trap")

rng = np.random.default_rng(204)
N = 4000
lead_err = rng.normal(0.0, 1.1, N)            # degrees of lead error
clay_kmh = rng.uniform(60, 100, N)
angle = rng.uniform(-35, 35, N)               # degrees off the straightaway
wind = rng.gamma(2.0, 1.6, N)                 # m/s
dist = rng.uniform(24, 46, N)                 # metres at the shot
choke = rng.choice([0.0, 0.33, 0.66, 1.0], N)
shot = rng.choice([7.0, 7.5, 8.0], N)
gunfit = rng.beta(4, 2, N)

pattern = (dist / 35.0) * (1.35 - 0.55 * choke)
true_logit = (2.6 - 1.3 * lead_err ** 2 / pattern - 0.09 * (dist - 32.0)
              - 0.16 * wind * np.abs(np.sin(np.radians(angle)))
              - 0.025 * (clay_kmh - 80.0) + 1.1 * (gunfit - 0.66)
              - 0.5 * (shot - 7.5) * (dist > 36))
p_break = 1.0 / (1.0 + np.exp(-true_logit))
y_all = (rng.uniform(size=N) < p_break).astype(np.float32)
X_all = np.stack([lead_err, clay_kmh, angle, wind, dist, choke, shot, gunfit], 1).astype(np.float32)
log.info("range log: %d shots, break rate %.1f%%", N, 100 * y_all.mean())


@mx.custom_function
def relu6_st(x):
    return mx.minimum(mx.maximum(x, 0.0), 6.0)


@relu6_st.vjp
def relu6_st_vjp(primals, cotangent, output):
    x = primals
    inside = mx.logical_and(x > 0.0, x < 6.0)
    # leaky straight-through outside the linear region
    return cotangent * mx.where(inside, 1.0, 0.05)


class BreakNet(nn.Module):
    def __init__(self, d_in, h=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, h)
        self.l2 = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        x = relu6_st(self.l1(x))
        x = relu6_st(self.l2(x))
        return self.out(x).squeeze(-1)


def loss_fn(model, xb, yb):
    return nn.losses.binary_cross_entropy(model(xb), yb, with_logits=True, reduction="mean")


def auc(scores, labels):
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    pos = labels == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


K = 4
STEPS, WARM, BS = 600, 80, 128
perm = rng.permutation(N)
folds = np.array_split(perm, K)
results = []
t0 = time.time()
for k in range(K):
    va_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(K) if j != k])
    mu, sd = X_all[tr_idx].mean(0), X_all[tr_idx].std(0) + 1e-6
    Xtr = mx.array((X_all[tr_idx] - mu) / sd)
    ytr = mx.array(y_all[tr_idx])
    Xva = mx.array((X_all[va_idx] - mu) / sd)
    yva = y_all[va_idx]

    mx.random.seed(100 + k)
    model = BreakNet(X_all.shape[1])
    mx.eval(model.parameters())
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 0.05, WARM), optim.cosine_decay(0.05, STEPS - WARM, 0.002)],
        [WARM])
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True, weight_decay=1e-4)
    vg = nn.value_and_grad(model, loss_fn)

    if k == 0:
        _, g0 = vg(model, Xtr[:256], ytr[:256])
        flat = tree_flatten(g0)
        nz = sum(1 for _, g in flat if float(mx.abs(g).sum()) > 0)
        log.info("audit: %d/%d parameter tensors get a nonzero gradient", nz, len(flat))

    ntr = Xtr.shape[0]
    run = 0.0
    for step in range(STEPS):
        if step == 0:
            log.info("fold %d/%d start: lr %.4f, %d train / %d held-out", k + 1, K,
                     float(opt.learning_rate), len(tr_idx), len(va_idx))
        idx = mx.array(rng.integers(0, ntr, BS))
        loss, grads = vg(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        if (step + 1) % 100 == 0:
            gn = math.sqrt(sum(float((g * g).sum()) for _, g in tree_flatten(grads)))
            log.info("fold %d/%d step %3d lr %.4f bce %.4f |g| %.3f", k + 1, K, step + 1,
                     float(opt.learning_rate), run / 100, gn)
            run = 0.0

    logits = np.array(model(Xva))
    p = 1.0 / (1.0 + np.exp(-logits))
    brier = float(np.mean((p - yva) ** 2))
    a = float(auc(logits, yva))
    eps = 1e-7
    bce = float(-np.mean(yva * np.log(p + eps) + (1 - yva) * np.log(1 - p + eps)))
    pb = p_break[va_idx]
    bayes = float(-np.mean(yva * np.log(pb) + (1 - yva) * np.log(1 - pb)))
    log.info("fold %d held-out: bce %.4f (bayes %.4f)  brier %.4f  auc %.3f  "
             "called %.1f%% vs broke %.1f%%", k + 1, bce, bayes, brier, a,
             100 * p.mean(), 100 * yva.mean())
    results.append((bce, brier, a))

r = np.array(results)
log.info("cv over %d folds: bce %.4f +- %.4f | brier %.4f +- %.4f | auc %.3f +- %.3f | %.1fs",
         K, r[:, 0].mean(), r[:, 0].std(), r[:, 1].mean(), r[:, 1].std(),
         r[:, 2].mean(), r[:, 2].std(), time.time() - t0)
