"""Marathon pacing outcome from a runner's training log.

3 classes: 0 = even pace, 1 = late fade, 2 = hit the wall (30 km+ collapse).
Features (synthetic): weekly km, longest run, carb-load score, start pace vs goal,
race-day temperature, taper weeks, age.

The model is a FIXED random-Fourier-feature layer (frozen on purpose, never
trained) followed by a small trainable MLP head. Nesterov-momentum SGD,
early stopping on validation cross-entropy that restores the best head weights.
Progress is one JSON object per line.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(104)


def make_runners(n):
    weekly_km = rng.gamma(6.0, 9.0, n)                 # ~54 km/week
    longest = np.clip(weekly_km * rng.uniform(0.35, 0.6, n), 10, 38)
    carbs = rng.uniform(0, 1, n)
    start_pace = rng.normal(0.0, 0.05, n)              # + = faster than goal
    temp = rng.normal(14, 6, n)
    taper = rng.integers(0, 4, n).astype(np.float64)
    age = rng.uniform(20, 65, n)
    # made-up glycogen / fatigue law
    reserve = (0.02 * weekly_km + 0.06 * longest + 1.2 * carbs
               - 14.0 * start_pace - 0.05 * np.maximum(temp - 12, 0)
               + 0.25 * np.minimum(taper, 2) - 0.01 * (age - 40))
    z = reserve + rng.normal(0, 0.45, n)
    y = np.where(z > 3.6, 0, np.where(z > 2.7, 1, 2))
    X = np.stack([weekly_km, longest, carbs, start_pace, temp, taper, age], 1)
    return X.astype(np.float32), y.astype(np.int32)


class RandomFourier(nn.Module):
    def __init__(self, d_in, d_out, scale=0.8):
        super().__init__()
        self.proj = nn.Linear(d_in, d_out)
        self.proj.weight = mx.random.normal((d_out, d_in)) * scale
        self.proj.bias = mx.random.uniform(0, 2 * math.pi, (d_out,))
        self.norm = math.sqrt(2.0 / d_out)

    def __call__(self, x):
        return mx.cos(self.proj(x)) * self.norm * 4.0


class PaceNet(nn.Module):
    def __init__(self, d_in=7, n_feat=192, hidden=64, n_cls=3):
        super().__init__()
        self.features = RandomFourier(d_in, n_feat)
        self.head = nn.Sequential(nn.Linear(n_feat, hidden), nn.ReLU(), nn.Linear(hidden, n_cls))

    def __call__(self, x):
        return self.head(self.features(x))


def ce_loss(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, X, Y):
    logits = model(X)
    ce = nn.losses.cross_entropy(logits, Y, reduction="mean")
    acc = mx.mean(mx.argmax(logits, axis=1) == Y)
    return ce.item(), acc.item()


def emit(**kw):
    print(json.dumps(kw), flush=True)


def main():
    mx.random.seed(7)
    Xtr, ytr = make_runners(9000)
    Xva, yva = make_runners(2000)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
    Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))
    counts = np.bincount(np.array(ytr), minlength=3)
    emit(event="data", train=int(Xtr.shape[0]), val=int(Xva.shape[0]),
         class_share_pct=[round(100 * c / counts.sum(), 1) for c in counts])

    model = PaceNet()
    model.features.freeze()          # fixed random features, on purpose
    mx.eval(model.parameters())
    frozen_before = {k: np.array(v) for k, v in tree_flatten(model.features.parameters())}

    n_train = len(tree_flatten(model.trainable_parameters()))
    n_all = len(tree_flatten(model.parameters()))
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)
    step_fn = nn.value_and_grad(model, ce_loss)

    _, g0 = step_fn(model, Xtr[:128], ytr[:128])
    gmax = {k: float(mx.max(mx.abs(v)).item()) for k, v in tree_flatten(g0)}
    emit(event="grad_check", trainable_leaves=n_train, all_leaves=n_all,
         zero_grad=[k for k, v in gmax.items() if v == 0.0])

    ce0, acc0 = evaluate(model, Xva, yva)
    emit(event="untrained", val_ce=round(ce0, 4), val_acc_pct=round(100 * acc0, 2))

    best_ce, best_epoch, best_head, patience, bad = float("inf"), -1, None, 3, 0
    batch = 64
    t0 = time.perf_counter()
    for epoch in range(1, 41):
        perm = mx.array(rng.permutation(Xtr.shape[0]))
        run, nb = 0.0, 0
        for i in range(0, Xtr.shape[0] - batch + 1, batch):
            idx = perm[i:i + batch]
            loss, grads = step_fn(model, Xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            nb += 1
        va_ce, va_acc = evaluate(model, Xva, yva)
        improved = va_ce < best_ce - 1e-4
        if improved:
            best_ce, best_epoch, bad = va_ce, epoch, 0
            best_head = tree_map(lambda a: mx.array(a), model.head.parameters())
        else:
            bad += 1
        emit(event="epoch", epoch=epoch, train_ce=round(run / nb, 4), val_ce=round(va_ce, 4),
             val_acc_pct=round(100 * va_acc, 2), best_epoch=best_epoch,
             secs=round(time.perf_counter() - t0, 1))
        if bad >= patience:
            emit(event="early_stop", epoch=epoch, patience=patience)
            break

    model.head.update(best_head)
    mx.eval(model.parameters())
    ce_b, acc_b = evaluate(model, Xva, yva)
    unchanged = all(np.array_equal(frozen_before[k], np.array(v))
                    for k, v in tree_flatten(model.features.parameters()))
    emit(event="restored", best_epoch=best_epoch, val_ce=round(ce_b, 4),
         val_acc_pct=round(100 * acc_b, 2), frozen_features_unchanged=unchanged)


if __name__ == "__main__":
    main()
