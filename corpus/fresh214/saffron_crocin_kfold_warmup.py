"""Saffron lot grading (ISO 3632 style grade I / II / III) from lab readings.

5-fold cross-validation; every fold gets a fresh model and an AdamW whose
learning rate ramps linearly from exactly 0, then cosine-decays.
One JSON object per epoch, summary at the end.
"""
import json
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(2024)
N = 900
# crocin E440, picrocrocin E257, safranal E330, moisture %, stigma mm, L*, a*, b*
crocin = rng.normal(220, 35, N)
picro = 0.35 * crocin + rng.normal(0, 9, N) + 10
safranal = rng.normal(32, 6, N)
moisture = rng.gamma(4.0, 2.2, N)
stigma = rng.normal(28, 4, N)
L = rng.normal(38, 5, N) - 0.03 * (crocin - 220)
a = rng.normal(30, 4, N) + 0.02 * (crocin - 220)
b = rng.normal(25, 4, N)
X = np.stack([crocin, picro, safranal, moisture, stigma, L, a, b], 1)
score = (0.025 * (crocin - 200) + 0.04 * (picro - 85) - 0.18 * np.maximum(moisture - 10, 0)
         - 0.006 * (safranal - 32) ** 2 + rng.normal(0, 0.45, N))
y = np.where(score > 0.9, 0, np.where(score > -0.4, 1, 2)).astype(np.int32)  # 0 = grade I
X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
perm = rng.permutation(N)
folds = np.array_split(perm, 5)


class Grader(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 48)
        self.n1 = nn.LayerNorm(48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 3)

    def __call__(self, x):
        h = nn.silu(self.n1(self.l1(x)))
        h = nn.silu(self.l2(h)) + h
        return self.out(h)


def loss_fn(model, xb, yb):
    return nn.losses.cross_entropy(model(xb), yb, label_smoothing=0.05, reduction="mean")


EPOCHS, BATCH, WARM, PEAK = 14, 32, 40, 4e-3
fold_acc = []
for k in range(5):
    mx.random.seed(k)
    va_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(5) if j != k])
    Xtr, ytr = mx.array(X[tr_idx]), mx.array(y[tr_idx])
    Xva, yva = mx.array(X[va_idx]), mx.array(y[va_idx])
    majority = float(np.mean(y[va_idx] == np.bincount(y[tr_idx]).argmax()))
    steps_per_epoch = math.ceil(len(tr_idx) / BATCH)
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK, WARM),
         optim.cosine_decay(PEAK, EPOCHS * steps_per_epoch - WARM, 1e-5)], [WARM])
    model = Grader()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    step_fn = nn.value_and_grad(model, loss_fn)
    order_rng = np.random.default_rng(100 + k)
    for ep in range(1, EPOCHS + 1):
        lr_at_start = opt.learning_rate.item() if ep > 1 else 0.0
        order = order_rng.permutation(len(tr_idx))
        tot, nb = 0.0, 0
        for s in range(0, len(order), BATCH):
            bi = mx.array(order[s:s + BATCH])
            loss, grads = step_fn(model, Xtr[bi], ytr[bi])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        logits = model(Xva)
        val_acc = mx.mean(mx.argmax(logits, 1) == yva).item()
        val_xent = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
        print(json.dumps({"fold": k + 1, "epoch": ep, "lr": round(lr_at_start, 6),
                          "train_xent": round(tot / nb, 4), "val_xent": round(val_xent, 4),
                          "val_acc_pct": round(100 * val_acc, 1),
                          "majority_pct": round(100 * majority, 1)}), flush=True)
    fold_acc.append(val_acc)

accs = np.array(fold_acc) * 100
print(f"CV accuracy {accs.mean():.1f}% +/- {accs.std():.1f}  (folds: {', '.join(f'{a:.1f}' for a in accs)})")
