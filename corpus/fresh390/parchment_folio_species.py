"""Which animal a medieval parchment folio came from (calf / goat / sheep), from ten
non-destructive measurements. Adam moments are gathered for the first updates while the
learning rate is held at 0, then the rate ramps up linearly; gradients are accumulated
over 4 micro-batches per update. Output is tab-separated."""
import sys
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(3)
N, NT, C = 6000, 1500, 3
lab = rng.integers(0, C, N + NT)
centres = rng.normal(0, 1.0, (C, 10))
X = centres[lab] + rng.normal(0, 1.35, (N + NT, 10))
X[:, 7] = rng.normal(0, 1, N + NT)            # ink-density column, unrelated to species
X = X.astype(np.float32)
Xtr, ytr = mx.array(X[:N]), mx.array(lab[:N])
Xte, yte = mx.array(X[N:]), lab[N:]

HOLD, RAMP, UPDATES, PEAK, ACC, MB = 150, 150, 900, 2e-3, 4, 32
sched = optim.join_schedules(
    [lambda s: mx.array(0.0), optim.linear_schedule(0.0, PEAK, RAMP), lambda s: mx.array(PEAK)],
    [HOLD, HOLD + RAMP])

mx.random.seed(5)
model = nn.Sequential(nn.Linear(10, 48), nn.GELU(), nn.Linear(48, 48), nn.GELU(), nn.Linear(48, C))
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=sched)


def loss_fn(m, xb, yb):
    return nn.losses.cross_entropy(m(xb), yb, label_smoothing=0.1, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)
w = sys.stdout.write
w("# folios\ttrain=%d\ttest=%d\tclasses=calf,goat,sheep\tchance_acc=33.3%%\n" % (N, NT))
w("# smoothed-label CE cannot go below %.3f\n" % (-(0.9 + 0.1 / 3) * np.log(0.9 + 0.1 / 3) - 2 * (0.1 / 3) * np.log(0.1 / 3)))
w("update\tlr\ttrain_ce\ttest_ce\ttest_acc_pct\tsecs\n")
t0, acc_loss, n_loss = time.time(), 0.0, 0
w0 = tree_map(lambda a: mx.array(a), model.parameters())
for u in range(1, UPDATES + 1):
    lr_used = float(sched(mx.array(u - 1)))
    gsum = None
    for _ in range(ACC):
        idx = mx.array(rng.integers(0, N, MB))
        loss, g = vg(model, Xtr[idx], ytr[idx])
        gsum = g if gsum is None else tree_map(lambda a, b: a + b, gsum, g)
        acc_loss += loss.item(); n_loss += 1
    opt.update(model, tree_map(lambda a: a / ACC, gsum))
    mx.eval(model.parameters(), opt.state)
    if u == HOLD:
        moved = max(float(mx.abs(a - b).max()) for (_, a), (_, b) in
                    zip(tree_flatten(model.parameters()), tree_flatten(w0)))
        w("# held %d updates at lr 0: max weight change %.1e, adam step %d\n" % (u, moved, opt.step.item()))
    if u % 75 == 0:
        logits = model(Xte)
        te_ce = nn.losses.cross_entropy(logits, mx.array(yte), reduction="mean").item()
        acc = float(np.mean(np.array(mx.argmax(logits, -1)) == yte)) * 100
        w("%d\t%.2e\t%.4f\t%.4f\t%.1f\t%.1f\n" % (u, lr_used, acc_loss / n_loss, te_ce, acc, time.time() - t0))
        acc_loss, n_loss = 0.0, 0
w("# done\tupdates=%d\tmicro_batches=%d\n" % (UPDATES, UPDATES * ACC))
