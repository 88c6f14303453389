# Dry-stone walling survey: will a wall section "belly" (bulge) within 5 years?
# 5-fold cross-validation, RMSprop with a linear warm-up from lr = 0,
# early stopping on validation Brier score with restore of the best weights.
import logging
import sys
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(levelname)s:%(name)s:%(message)s")
log = logging.getLogger("wallsurvey")

rng = np.random.default_rng(11)
N = 3000
height = rng.uniform(0.8, 1.8, N)        # m
batter = rng.uniform(2, 15, N)           # degrees off vertical
through = rng.uniform(0.5, 1.5, N)       # m between through-stones
hearting = rng.uniform(0, 1, N)          # fill quality score
frost = rng.uniform(10, 120, N)          # frost days / yr
slope = rng.uniform(0, 25, N)            # ground slope degrees
slate = rng.integers(0, 2, N).astype(np.float64)
X = np.stack([height, batter, through, hearting, frost, slope, slate], 1)
logit = (2.2 * (height - 1.3) - 0.25 * (batter - 8) + 1.8 * (through - 1.0)
         - 2.5 * (hearting - 0.5) + 0.02 * (frost - 60) + 0.06 * (slope - 12)
         - 0.6 * slate + 0.8 * (height - 1.3) * (through - 1.0) * 3 - 0.3)
y = (rng.uniform(0, 1, N) < 1 / (1 + np.exp(-logit))).astype(np.float32)
log.info("surveyed %d sections, %.1f%% bellied", N, 100 * y.mean())

folds = np.array_split(rng.permutation(N), 5)


class WallNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(7, 32)
        self.b = nn.Linear(32, 16)
        self.out = nn.Linear(16, 1)

    def __call__(self, x):
        return self.out(mx.tanh(self.b(mx.tanh(self.a(x))))).squeeze(-1)


def loss_fn(m, x, t):
    return nn.losses.binary_cross_entropy(m(x), t, with_logits=True, reduction="mean")


def scores(m, x, t):
    p = mx.sigmoid(m(x))
    brier = float(mx.mean((p - t) ** 2))
    acc = float(mx.mean((p > 0.5) == (t > 0.5))) * 100
    return brier, acc


WARM, LR, B, MAX_EP, PATIENCE = 40, 2e-3, 64, 60, 6
summary = []
for k in range(5):
    va = folds[k]
    tr = np.concatenate([folds[j] for j in range(5) if j != k])
    mu, sd = X[tr].mean(0), X[tr].std(0)
    xtr, ytr = mx.array(((X[tr] - mu) / sd).astype(np.float32)), mx.array(y[tr])
    xva, yva = mx.array(((X[va] - mu) / sd).astype(np.float32)), mx.array(y[va])
    base = float(mx.mean((yva - ytr.mean()) ** 2))

    mx.random.seed(100 + k)
    model = WallNet()
    mx.eval(model.parameters())
    sched = optim.linear_schedule(0.0, LR, WARM)
    opt = optim.RMSprop(learning_rate=lambda s: mx.where(s < WARM, sched(s), LR))
    vg = nn.value_and_grad(model, loss_fn)

    _, g = vg(model, xtr[:B], ytr[:B])
    gn = {kk: float(mx.sqrt(mx.sum(v * v))) for kk, v in tree_flatten(g)}
    assert all(v > 0 for v in gn.values())
    log.info("fold %d audit: %d tensors, min |g| %.2e, max |g| %.2e, base-rate brier %.4f",
             k + 1, len(gn), min(gn.values()), max(gn.values()), base)

    best, best_ep, best_w, wait = 9.0, 0, None, 0
    n = xtr.shape[0]
    for ep in range(1, MAX_EP + 1):
        perm = mx.array(rng.permutation(n))
        tot = 0.0
        for s in range(0, n, B):
            ids = perm[s:s + B]
            loss, grads = vg(model, xtr[ids], ytr[ids])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += float(loss) * ids.shape[0]
        br, acc = scores(model, xva, yva)
        log.info("fold %d ep %02d lr %.2e train_bce %.4f val_brier %.4f val_acc %.1f%%",
                 k + 1, ep, float(opt.learning_rate), tot / n, br, acc)
        if br < best - 1e-4:
            best, best_ep, wait = br, ep, 0
            best_w = tree_map(lambda p: mx.array(p), model.parameters())
            mx.eval(best_w)
        else:
            wait += 1
            if wait >= PATIENCE:
                log.info("fold %d stop at ep %d (no gain for %d)", k + 1, ep, PATIENCE)
                break
    model.update(best_w)
    mx.eval(model.parameters())
    br, acc = scores(model, xva, yva)
    log.warning("fold %d restored ep %d: brier %.4f (base %.4f) acc %.1f%%", k + 1, best_ep, br, base, acc)
    summary.append((br, acc, base))

s = np.array(summary)
log.info("CV brier %.4f +- %.4f | base %.4f | acc %.1f%% +- %.1f",
         s[:, 0].mean(), s[:, 0].std(), s[:, 2].mean(), s[:, 1].mean(), s[:, 1].std())
