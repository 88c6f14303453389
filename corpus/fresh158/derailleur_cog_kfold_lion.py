"""Pick the rear cassette cog a rider should be in (8 cogs) from ride telemetry.

3-fold cross validation, Lion with a linear warm-up that starts at exactly 0,
a compiled train step, early stopping on validation NLL with restore of the best weights.
"""
import logging
import math
import random
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s [%(name)s] %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("derailleur")

N_COGS = 8
rng = random.Random(11)
mx.random.seed(11)


def make_rides(n):
    rows, labels = [], []
    for _ in range(n):
        slope = rng.gauss(0.0, 4.0)            # percent grade
        speed = max(4.0, rng.gauss(27.0, 8.0))  # km/h
        cadence = rng.gauss(88.0, 9.0)          # rpm
        power = rng.gauss(210.0, 55.0)          # W
        wind = rng.gauss(0.0, 12.0)             # km/h headwind
        chainring = rng.choice([34.0, 50.0])
        # development needed = speed / cadence -> metres per crank turn
        dev = (speed / 3.6) / (cadence / 60.0)
        # cog teeth ~ chainring * wheel_circ / dev, plus a slope/wind preference
        teeth = chainring * 2.1 / dev + 0.35 * slope + 0.08 * wind + rng.gauss(0.0, 0.8)
        cog = int(min(N_COGS - 1, max(0, round((teeth - 11.0) / 2.5))))
        rows.append([slope / 4.0, (speed - 27.0) / 8.0, (cadence - 88.0) / 9.0,
                     (power - 210.0) / 55.0, wind / 12.0, (chainring - 42.0) / 8.0,
                     (dev - 5.0) / 2.0])
        labels.append(cog)
    return mx.array(rows), mx.array(labels)


class CogNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 96)
        self.l2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, N_COGS)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


X, Y = make_rides(900)
perm = list(range(X.shape[0]))
rng.shuffle(perm)
folds = [mx.array(perm[i::3]) for i in range(3)]
counts = [0] * N_COGS
for v in Y.tolist():
    counts[v] += 1
log.info("cog histogram %s", counts)

BATCH = 64
MAX_EPOCHS = 60
PATIENCE = 6
fold_report = []

for k in range(3):
    val_idx = folds[k]
    tr_idx = mx.concatenate([folds[j] for j in range(3) if j != k])
    xtr, ytr, xva, yva = X[tr_idx], Y[tr_idx], X[val_idx], Y[val_idx]
    major = max(range(N_COGS), key=lambda c: sum(1 for v in ytr.tolist() if v == c))
    base_acc = (yva == major).astype(mx.float32).mean().item()

    model = CogNet()
    mx.eval(model.parameters())
    steps_per_epoch = math.ceil(xtr.shape[0] / BATCH)
    warm = steps_per_epoch * 3
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 1.5e-3, warm),
         optim.cosine_decay(1.5e-3, steps_per_epoch * MAX_EPOCHS, 3e-5)], [warm])
    opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        lval, grads = nn.value_and_grad(model, loss_fn)(model, xb, yb)
        opt.update(model, grads)
        return lval

    # gradient check once per fold: every trainable leaf must get signal
    _, g0 = nn.value_and_grad(model, loss_fn)(model, xtr[:BATCH], ytr[:BATCH])
    dead = [n for n, g in tree_flatten(g0) if mx.abs(g).sum().item() == 0.0]
    log.info("fold %d/3 | train %d val %d | majority-cog baseline acc %.1f%% | zero-grad leaves: %s",
             k + 1, xtr.shape[0], xva.shape[0], 100 * base_acc, dead or "none")

    best = (float("inf"), -1, None)
    bad = 0
    for ep in range(1, MAX_EPOCHS + 1):
        order = mx.random.permutation(xtr.shape[0])
        tot = 0.0
        for s in range(steps_per_epoch):
            b = order[s * BATCH:(s + 1) * BATCH]
            lval = step(xtr[b], ytr[b])
            mx.eval(lval, state)
            tot += lval.item() * b.shape[0]
        logits = model(xva)
        vnll = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
        vacc = (mx.argmax(logits, axis=1) == yva).astype(mx.float32).mean().item()
        lr_now = opt.learning_rate.item()
        log.info("fold %d ep %02d lr=%.2e train_xent=%.4f val_nll=%.4f val_acc=%.1f%% (base %.1f%%)",
                 k + 1, ep, lr_now, tot / xtr.shape[0], vnll, 100 * vacc, 100 * base_acc)
        if vnll < best[0] - 1e-4:
            best = (vnll, ep, tree_map(lambda a: mx.array(a), model.parameters()))
            bad = 0
        else:
            bad += 1
            if bad >= PATIENCE:
                log.warning("fold %d: no val_nll gain for %d epochs, stopping at ep %d", k + 1, PATIENCE, ep)
                break
    model.update(best[2])
    mx.eval(model.parameters())
    logits = model(xva)
    racc = (mx.argmax(logits, axis=1) == yva).astype(mx.float32).mean().item()
    rnll = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
    log.info("fold %d restored ep %d weights: val_nll=%.4f val_acc=%.1f%%", k + 1, best[1], rnll, 100 * racc)
    fold_report.append((k + 1, best[1], rnll, racc, base_acc))

print("fold | best_ep | val_nll | val_acc | majority")
for f, e, n, a, b in fold_report:
    print(f"{f:>4} | {e:>7} | {n:7.4f} | {100*a:6.1f}% | {100*b:6.1f}%")
mean_acc = sum(r[3] for r in fold_report) / 3
print(f"mean | {'':>7} | {sum(r[2] for r in fold_report)/3:7.4f} | {100*mean_acc:6.1f}% |")
