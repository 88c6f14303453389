"""Dressage test marks: predict the judge's mark band for a trot-extension
movement from gait measurements.  4-fold cross-validation, focal loss with
label smoothing, warm-up from lr 0, early stopping that restores the best
epoch of each fold."""
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

BANDS = ["insuff", "satisf", "fairly", "good", "v.good"]
FOLDS = 4
BATCH = 64
EPOCHS = 40
PATIENCE = 4

rng = random.Random(7)
mx.random.seed(7)


def make_horses(n):
    rows, marks = [], []
    for _ in range(n):
        stride = rng.gauss(3.1, 0.35)        # m
        cadence = rng.gauss(58.0, 4.0)       # strides / min
        impulsion = rng.random()             # 0..1 (hind push)
        head = rng.gauss(8.0, 6.0)           # deg in front of vertical
        symmetry = rng.gauss(92.0, 4.0)      # rider symmetry %
        age = rng.uniform(6, 18)             # years
        s = (1.6 * (stride - 3.1) / 0.35 + 1.2 * impulsion
             - 0.06 * abs(head - 6.0) + 0.08 * (symmetry - 92.0)
             + 0.4 * math.sin((cadence - 58.0) / 4.0)
             - 0.02 * (age - 11.0) ** 2 / 4.0 + rng.gauss(0, 0.55))
        rows.append([stride, cadence, impulsion, head, symmetry, age])
        marks.append(s)
    cuts = sorted(marks)
    q = [cuts[int(len(cuts) * f)] for f in (0.2, 0.4, 0.6, 0.8)]
    labels = [sum(m > c for c in q) for m in marks]
    return rows, labels


ROWS, LABELS = make_horses(1200)
ALL_X = mx.array(ROWS, dtype=mx.float32)
ALL_Y = mx.array(LABELS, dtype=mx.int32)


class MarkNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 96)
        self.norm = nn.LayerNorm(96)
        self.l2 = nn.Linear(96, 96)
        self.head = nn.Linear(96, 5)

    def __call__(self, x):
        h = nn.gelu(self.norm(self.l1(x)))
        h = nn.gelu(self.l2(h))
        return self.head(h)


def focal_loss(model, x, y, gamma=2.0, smooth=0.05):
    logits = model(x)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    p = mx.exp(logp)
    target = (y[:, None] == mx.arange(5)).astype(mx.float32) * (1.0 - smooth) + smooth / 5.0
    return mx.mean(mx.sum(-target * (1.0 - p) ** gamma * logp, axis=-1))


def scores(model, x, y):
    pred = mx.argmax(model(x), axis=-1)
    recalls = []
    for b in range(5):
        m = (y == b)
        recalls.append((mx.sum((pred == b) & m) / mx.maximum(mx.sum(m), 1)).item())
    err = mx.mean(mx.abs(pred - y).astype(mx.float32)).item()
    return 100.0 * sum(recalls) / 5.0, err


def norm(tree):
    return math.sqrt(sum(mx.sum(v * v).item() for _, v in tree_flatten(tree)))


def bar(done, total, width=16):
    k = int(width * done / total)
    return "#" * k + "-" * (width - k)


order = list(range(len(LABELS)))
rng.shuffle(order)
fold_of = {i: j % FOLDS for j, i in enumerate(order)}
summary = []

for fold in range(FOLDS):
    tr_idx = [i for i in order if fold_of[i] != fold]
    va_idx = [i for i in order if fold_of[i] == fold]
    xtr, ytr = ALL_X[mx.array(tr_idx)], ALL_Y[mx.array(tr_idx)]
    xva, yva = ALL_X[mx.array(va_idx)], ALL_Y[mx.array(va_idx)]
    mu, sd = mx.mean(xtr, axis=0), mx.std(xtr, axis=0) + 1e-6
    xtr, xva = (xtr - mu) / sd, (xva - mu) / sd

    model = MarkNet()
    mx.eval(model.parameters())
    init = tree_map(lambda a: mx.array(a), model.parameters())
    steps_per_epoch = len(tr_idx) // BATCH
    total = steps_per_epoch * EPOCHS
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 6e-3, 40),
         optim.cosine_decay(6e-3, total - 40, 3e-4)], [40])
    opt = optim.Adamax(learning_rate=sched)
    step_fn = nn.value_and_grad(model, focal_loss)

    # check every parameter really gets a gradient
    _, g0 = step_fn(model, xtr[:BATCH], ytr[:BATCH])
    dead = [k for k, v in tree_flatten(g0) if mx.max(mx.abs(v)).item() == 0.0]
    if dead:
        raise SystemExit(f"dead params: {dead}")

    best, best_epoch, best_params, wait = float("inf"), -1, None, 0
    step = 0
    for epoch in range(1, EPOCHS + 1):
        perm = mx.array(rng.sample(range(len(tr_idx)), len(tr_idx)))
        run = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            loss, grads = step_fn(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            step += 1
        vloss = focal_loss(model, xva, yva).item()
        bacc, err = scores(model, xva, yva)
        lr_now = opt.learning_rate.item()
        print(f"fold {fold + 1}/{FOLDS} ep {epoch:02d} |{bar(step, total)}| "
              f"{step}/{total} [lr {lr_now:.1e}] focal={run / steps_per_epoch:.4f}"
              f"/{vloss:.4f} bacc={bacc:.1f}% err={err:.3f}")
        if vloss < best - 1e-4:
            best, best_epoch, wait = vloss, epoch, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_params)
        else:
            wait += 1
            if wait >= PATIENCE:
                print(f"  early stop at ep {epoch} (no gain for {PATIENCE})")
                break
    last_params = tree_map(lambda a: mx.array(a), model.parameters())
    model.update(best_params)
    mx.eval(model.parameters())
    bacc, err = scores(model, xva, yva)
    drift = norm(tree_map(lambda a, b: a - b, model.parameters(), init))
    gap = norm(tree_map(lambda a, b: a - b, last_params, best_params))
    print(f"  audit fold {fold + 1}: restored ep {best_epoch} |theta|="
          f"{norm(model.parameters()):.3f} |theta-init|={drift:.3f} "
          f"|last-best|={gap:.4f} -> bacc={bacc:.1f}% err={err:.3f}")
    summary.append((fold + 1, best_epoch, best, bacc, err))

print()
print("fold | best ep | val focal | bacc   | err   | chance")
for f, e, l, a, r in summary:
    print(f"{f:4d} | {e:7d} | {l:9.4f} | {a:5.1f}% | {r:.3f} | 20.0%")
ma = sum(s[3] for s in summary) / FOLDS
sa = math.sqrt(sum((s[3] - ma) ** 2 for s in summary) / FOLDS)
me = sum(s[4] for s in summary) / FOLDS
print(f"mean |         |           | {ma:5.1f}% | {me:.3f} | +/- {sa:.1f}")
