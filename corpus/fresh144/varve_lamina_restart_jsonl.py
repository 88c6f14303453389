"""Lake-sediment varve chronology: label each lamina of a core scan as
summer silt / winter clay / event layer (turbidite) from a 7-lamina window of
(grey value, Ca/Ti ratio, log thickness) readings.

Stage A trains on two clean reference cores; stage B adds a bioturbated core
(smeared greys, drifting XRF calibration), so the training loss jumps when it
arrives.  Learning rate: cosine cycles that each restart with a linear warm-up
from exactly 0.  Early stopping on the held-out core restores the best weights.
Output: one JSON object per line.
"""
import json
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

WIN = 7
CLASSES = ["summer", "winter", "event"]
rng = np.random.default_rng(11)


def make_core(n_years, smear=0.0, drift=0.0, noise=0.12):
    labels = []
    for _ in range(n_years):
        labels += [0, 1]
        if rng.random() < 0.12:
            labels.append(2)
    labels = np.array(labels)
    n = len(labels)
    grey = np.where(labels == 0, 0.62, np.where(labels == 1, 0.40, 0.52))
    cati = np.where(labels == 0, 1.2, np.where(labels == 1, 0.8, 1.5))
    thick = np.where(labels == 0, 0.0, np.where(labels == 1, -0.6, 1.1))
    grey = grey + noise * rng.standard_normal(n)
    cati = cati + 1.5 * noise * rng.standard_normal(n) + drift * np.linspace(-1, 1, n)
    thick = thick + 0.7 * rng.standard_normal(n)
    if smear > 0:
        k = np.array([smear, 1 - 2 * smear, smear])
        grey = np.convolve(grey, k, mode="same")
    feats = np.stack([grey, cati, thick], axis=1).astype(np.float32)
    pad = WIN // 2
    fp = np.pad(feats, ((pad, pad), (0, 0)), mode="edge")
    X = np.stack([fp[i:i + WIN].ravel() for i in range(n)])
    return X, labels.astype(np.int32)


Xa1, ya1 = make_core(900)
Xa2, ya2 = make_core(900)
Xb, yb = make_core(1000, smear=0.3, drift=0.5, noise=0.2)
Xv, yv = make_core(500, smear=0.15, drift=0.25, noise=0.15)

mu = np.concatenate([Xa1, Xa2]).mean(0)
sd = np.concatenate([Xa1, Xa2]).std(0) + 1e-6
norm = lambda X: mx.array((X - mu) / sd)
stage_a = (norm(np.concatenate([Xa1, Xa2])), mx.array(np.concatenate([ya1, ya2])))
stage_b = (norm(np.concatenate([Xa1, Xa2, Xb])), mx.array(np.concatenate([ya1, ya2, yb])))
Xval, yval = norm(Xv), mx.array(yv)
majority = float(np.mean(yv == np.bincount(yv).argmax()))


class LaminaNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(3 * WIN, 64)
        self.l2 = nn.Linear(64, 32)
        self.out = nn.Linear(32, 3)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, X, y):
    logits = model(X)
    loss = nn.losses.cross_entropy(logits, y, reduction="mean")
    pred = mx.argmax(logits, axis=1)
    acc = mx.mean(pred == y)
    ev = y == 2
    ev_recall = mx.sum((pred == 2) & ev) / mx.maximum(mx.sum(ev), 1)
    mx.eval(loss, acc, ev_recall)
    return loss.item(), acc.item(), ev_recall.item()


mx.random.seed(5)
model = LaminaNet()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=0.0)
vg = nn.value_and_grad(model, loss_fn)

# one-off audit: every weight matrix and bias should receive gradient
_, g0 = vg(model, stage_a[0][:256], stage_a[1][:256])
audit = {k: round(float(mx.linalg.norm(v.reshape(-1)).item()), 5) for k, v in tree_flatten(g0)}
print(json.dumps({"event": "grad_audit", "norms": audit, "all_nonzero": all(v > 0 for v in audit.values())}))

PEAK, CYCLE, WARM, BATCH = 4e-3, 12, 3, 128
STAGE_B_AT, PATIENCE, MAX_EPOCHS = 24, 14, 72


def lr_at(epoch, it, iters):
    e = epoch % CYCLE + it / iters
    if e < WARM:
        return PEAK * e / WARM
    return 0.5 * PEAK * (1 + math.cos(math.pi * (e - WARM) / (CYCLE - WARM)))


best, best_epoch, best_w, bad = float("inf"), -1, None, 0
for epoch in range(MAX_EPOCHS):
    X, y = stage_a if epoch < STAGE_B_AT else stage_b
    stage = "A" if epoch < STAGE_B_AT else "B"
    n = X.shape[0]
    perm = mx.array(rng.permutation(n))
    iters = n // BATCH
    tot = 0.0
    for it in range(iters):
        opt.learning_rate = lr_at(epoch, it, iters)
        idx = perm[it * BATCH:(it + 1) * BATCH]
        loss, grads = vg(model, X[idx], y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    vloss, vacc, vrec = evaluate(model, Xval, yval)
    rec = {"epoch": epoch, "cycle": epoch // CYCLE, "stage": stage,
           "lr_first": round(lr_at(epoch, 0, iters), 6), "train_xent": round(tot / iters, 4),
           "val_xent": round(vloss, 4), "val_acc_pct": round(100 * vacc, 2),
           "event_recall_pct": round(100 * vrec, 2), "majority_pct": round(100 * majority, 2)}
    if vloss < best - 1e-4:
        best, best_epoch, bad = vloss, epoch, 0
        best_w = tree_map(lambda a: mx.array(a), model.parameters())
        rec["best"] = True
    else:
        bad += 1
    print(json.dumps(rec))
    if bad >= PATIENCE:
        print(json.dumps({"event": "early_stop", "epoch": epoch, "best_epoch": best_epoch}))
        break

model.update(best_w)
mx.eval(model.parameters())
vloss, vacc, vrec = evaluate(model, Xval, yval)
print(json.dumps({"event": "restored", "best_epoch": best_epoch, "val_xent": round(vloss, 4),
                  "val_acc_pct": round(100 * vacc, 2), "event_recall_pct": round(100 * vrec, 2),
                  "majority_pct": round(100 * majority, 2)}))
