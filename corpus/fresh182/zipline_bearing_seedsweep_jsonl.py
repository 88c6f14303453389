"""Zipline park maintenance: tag trolley wheel bearings (ok / dry / pitted / seized)
from a 32-sample accelerometer trace logged on each test ride.

Seed sweep; each seed gets a fresh net, SGD-Nesterov with a warmup from 0 and
cosine warm restarts, early stopping on val macro-F1 with restore of the best weights.
"""
import json
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

L = 32
CLASSES = ["ok", "dry", "pitted", "seized"]


def make_rides(rng, n):
    y = rng.choice(4, size=n, p=[0.4, 0.25, 0.2, 0.15])
    t = np.arange(L) / L
    speed = rng.uniform(0.7, 1.3, size=(n, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    base = np.sin(2 * np.pi * 4 * speed * t + phase)
    x = base.copy()
    dry = y == 1
    x[dry] += rng.normal(0, 0.55, size=(dry.sum(), L))
    pit = y == 2
    period = rng.integers(5, 8, size=pit.sum())
    for k, row in enumerate(np.where(pit)[0]):
        x[row, rng.integers(0, period[k])::period[k]] += 1.6
    sz = y == 3
    x[sz] = 0.35 * base[sz] + 0.8 * np.sin(2 * np.pi * 0.7 * t + phase[sz])
    x += rng.normal(0, 0.3, size=x.shape)
    return x[..., None].astype(np.float32), y.astype(np.int32)


class BearingNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(1, 12, kernel_size=5, padding=2)
        self.conv2 = nn.Conv1d(12, 16, kernel_size=3, padding=1)
        self.head = nn.Linear(32, 4)

    def __call__(self, x):
        h = nn.gelu(self.conv1(x))
        h = nn.gelu(self.conv2(h))
        pooled = mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1)
        return self.head(pooled)


def macro_f1(pred, y):
    f1s = []
    for c in range(4):
        tp = np.sum((pred == c) & (y == c))
        fp = np.sum((pred == c) & (y != c))
        fn = np.sum((pred != c) & (y == c))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1s))


def make_schedule(peak, warm, cycle):
    def lr_at(step):
        s = step.astype(mx.float32)
        warm_lr = peak * s / warm
        c = mx.remainder(s - warm, cycle)
        cos_lr = 0.5 * peak * (1.0 + mx.cos(math.pi * c / cycle))
        return mx.where(s < warm, warm_lr, cos_lr)
    return lr_at


data_rng = np.random.default_rng(2024)
Xtr, Ytr = make_rides(data_rng, 2400)
Xva, Yva = make_rides(data_rng, 600)
xtr, ytr, xva = mx.array(Xtr), mx.array(Ytr), mx.array(Xva)
chance = macro_f1(np.zeros_like(Yva), Yva)
print(json.dumps({"event": "data", "train": len(Ytr), "val": len(Yva),
                  "class_share": np.bincount(Ytr, minlength=4).tolist(),
                  "majority_f1": round(chance, 4)}))

BATCH, MAX_EPOCHS, PATIENCE = 64, 30, 6
summary = []
for seed in (11, 12, 13):
    mx.random.seed(seed)
    rng = np.random.default_rng(seed)
    model = BearingNet()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=make_schedule(0.08, 40, 150), momentum=0.9, nesterov=True)

    def loss_fn(m, xb, yb):
        return nn.losses.cross_entropy(m(xb), yb, reduction="mean")

    grad_fn = nn.value_and_grad(model, loss_fn)
    best_f1, best_ep, best_params, bad = -1.0, 0, None, 0
    for ep in range(1, MAX_EPOCHS + 1):
        order = mx.array(rng.permutation(len(Ytr)))
        tot, nb = 0.0, 0
        for i in range(0, len(Ytr), BATCH):
            idx = order[i:i + BATCH]
            loss, grads = grad_fn(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        pred = np.array(mx.argmax(model(xva), axis=1))
        f1 = macro_f1(pred, Yva)
        print(json.dumps({"seed": seed, "ep": ep, "lr": round(opt.learning_rate.item(), 5),
                          "xent": round(tot / nb, 4), "f1": round(f1, 4),
                          "acc_pct": round(100.0 * float(np.mean(pred == Yva)), 1)}))
        if f1 > best_f1:
            best_f1, best_ep, bad = f1, ep, 0
            best_params = tree_map(lambda p: p, model.parameters())
        else:
            bad += 1
            if bad >= PATIENCE:
                print(json.dumps({"seed": seed, "event": "early_stop", "ep": ep, "best_ep": best_ep}))
                break
    model.update(best_params)
    mx.eval(model.parameters())
    pred = np.array(mx.argmax(model(xva), axis=1))
    restored = macro_f1(pred, Yva)
    gap = abs(restored - best_f1)
    wnorm = math.sqrt(sum(float(mx.sum(v * v).item()) for _, v in tree_flatten(model.parameters())))
    print(json.dumps({"seed": seed, "event": "restored", "best_ep": best_ep, "f1": round(restored, 4),
                      "audit_gap": round(gap, 6), "weight_norm": round(wnorm, 3)}))
    summary.append(restored)

print(json.dumps({"event": "sweep_done", "mean_f1": round(float(np.mean(summary)), 4),
                  "spread": round(float(np.max(summary) - np.min(summary)), 4),
                  "majority_f1": round(chance, 4)}))
