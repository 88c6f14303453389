# Variable-star classification with pool-based active learning.
#
# Survey photometry gives ~20k unlabelled light curves (summarised as 7 features);
# an astronomer can label ("spectroscopic follow-up") 150 per round. We keep
# fine-tuning ONE classifier across rounds and ask for the stars the model is
# least sure about (max predictive entropy). The labelled set grows until the
# follow-up budget (2400 stars) is spent, then the last rounds only train.
#
# Output is a semicolon-separated table with decimal commas (pasted into a
# spreadsheet with a German locale).
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

CLASSES = ["cepheid", "rr_lyrae", "ecl_binary", "mira", "delta_scuti"]
rng = np.random.default_rng(2024)
mx.random.seed(2024)


def simulate(n):
    k = rng.choice(5, size=n, p=[0.18, 0.32, 0.30, 0.08, 0.12])
    #               logP   amp   skew  asym   B-V   logL   jitter
    centre = np.array([[0.9, 0.8, -0.6, 0.30, 0.70, 3.3, 0.05],
                       [-0.3, 0.9, -0.5, 0.35, 0.30, 1.7, 0.05],
                       [-0.1, 0.6, 0.4, 0.02, 0.55, 1.2, 0.04],
                       [2.5, 3.0, 0.0, 0.15, 1.60, 3.6, 0.20],
                       [-1.1, 0.1, 0.0, 0.05, 0.25, 1.3, 0.02]])
    spread = np.array([0.30, 0.35, 0.45, 0.12, 0.18, 0.50, 0.03])
    x = centre[k] + rng.normal(size=(n, 7)) * spread
    # period-luminosity relation for the pulsators, so classes overlap in a curved way
    x[:, 5] += np.where(k == 0, 1.1 * (x[:, 0] - 0.9), 0.0)
    x[:, 1] = np.abs(x[:, 1])
    return x.astype(np.float32), k.astype(np.int32)


X_pool, y_pool = simulate(20000)
X_test, y_test = simulate(3000)
mu, sd = X_pool.mean(0), X_pool.std(0)
X_pool = (X_pool - mu) / sd
X_test = (X_test - mu) / sd
Xp, Xt, yt = mx.array(X_pool), mx.array(X_test), mx.array(y_test)


class StarNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(7, 64)
        self.norm = nn.LayerNorm(64)
        self.hid = nn.Linear(64, 64)
        self.out = nn.Linear(64, 5)

    def __call__(self, x):
        h = nn.gelu(self.norm(self.inp(x)))
        h = h + nn.gelu(self.hid(h))
        return self.out(h)


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def entropy_bits(logits):
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    return -mx.sum(mx.exp(logp) * logp, axis=-1) / np.log(2.0)


def fmt(v, nd=4):
    return f"{v:.{nd}f}".replace(".", ",")


model = StarNet()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
step_fn = nn.value_and_grad(model, ce)

SEED_SIZE, PER_ROUND, BUDGET = 150, 150, 2400
ROUNDS, STEPS_PER_ROUND, BATCH = 18, 250, 64

labelled = np.zeros(len(X_pool), dtype=bool)
labelled[rng.choice(len(X_pool), SEED_SIZE, replace=False)] = True

# every trainable leaf must receive a gradient on the very first batch
first = np.flatnonzero(labelled)[:BATCH]
_, g = step_fn(model, Xp[mx.array(first)], mx.array(y_pool[first]))
dead = [k for k, v in tree_flatten(g) if not bool(mx.any(v != 0).item())]
print(f"# grad check: {len(tree_flatten(g))} leaves, without gradient: {dead or 'none'}",
      file=sys.stderr)
print(f"# chance error {fmt(100 * (1 - 0.32), 1)} %, pool {len(X_pool)}, test {len(X_test)}, "
      f"budget {BUDGET}", file=sys.stderr)

print("round;labelled;new_ce_before;train_ce;test_ce;test_error_pct;pool_entropy_bits;lr;secs")
t0 = time.perf_counter()
new_idx = np.flatnonzero(labelled)
for rnd in range(1, ROUNDS + 1):
    # how surprising are the stars that just arrived (before training on them)?
    new_ce = (ce(model, Xp[mx.array(new_idx)], mx.array(y_pool[new_idx])).item()
              if len(new_idx) else None)

    lr = 2e-3 if rnd <= 12 else 5e-4
    opt.learning_rate = lr
    lab = np.flatnonzero(labelled)
    ylab = mx.array(y_pool[lab])
    Xlab = Xp[mx.array(lab)]
    for _ in range(STEPS_PER_ROUND):
        b = mx.array(rng.integers(0, len(lab), BATCH))
        loss, grads = step_fn(model, Xlab[b], ylab[b])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)

    train_ce = ce(model, Xlab, ylab).item()
    logits_t = model(Xt)
    test_ce = nn.losses.cross_entropy(logits_t, yt, reduction="mean").item()
    err = 100.0 * (1.0 - mx.mean(mx.argmax(logits_t, axis=-1) == yt).item())
    ent = np.array(entropy_bits(model(Xp)))
    pool_ent = float(ent[~labelled].mean())

    print(";".join([str(rnd), str(int(labelled.sum())), fmt(new_ce) if new_ce is not None else "", fmt(train_ce),
                    fmt(test_ce), fmt(err, 2), fmt(pool_ent), fmt(lr, 4),
                    fmt(time.perf_counter() - t0, 1)]))

    # acquisition: the most uncertain unlabelled stars, until the budget is spent
    room = BUDGET - int(labelled.sum())
    if room > 0:
        ent[labelled] = -1.0
        new_idx = np.argsort(-ent)[:min(PER_ROUND, room)]
        labelled[new_idx] = True
    else:
        new_idx = np.array([], dtype=np.int64)   # budget spent: nothing new arrives

counts = np.bincount(y_pool[labelled], minlength=5)
print("# labelled per class: " + ", ".join(f"{c}={n}" for c, n in zip(CLASSES, counts)),
      file=sys.stderr)
