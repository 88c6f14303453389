"""Tea factory: grade of a made-tea lot (4 grades) from withering/rolling/firing logs.

Training follows the linear scaling rule with a growing batch: the batch size doubles
at each stage (32 -> 64 -> 128 -> 256) and the SGD learning rate is scaled with it;
the very first stage warms the rate up from exactly 0, later stages ramp from the
previous stage's rate to the new one over a few dozen steps.
Output is a markdown table, one row per 100 steps.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(7)
mx.random.seed(7)
GRADES = ["FTGFOP", "TGFOP", "GFOP", "FOP"]


def make_lots(n):
    wither_h = rng.uniform(10, 20, n)
    moisture = rng.uniform(55, 72, n)       # % after withering
    roll_min = rng.uniform(25, 60, n)
    ferment_min = rng.uniform(60, 140, n)
    firing_c = rng.uniform(95, 125, n)
    tips_pct = rng.uniform(2, 30, n)
    leaf_mm = rng.uniform(3, 14, n)
    score = (0.12 * tips_pct - 0.08 * np.abs(moisture - 63) - 0.015 * np.abs(ferment_min - 95)
             - 0.04 * np.abs(firing_c - 108) + 0.03 * wither_h - 0.01 * roll_min
             + 0.06 * (leaf_mm - 8))
    score = score + rng.logistic(scale=0.25, size=n)
    cuts = np.quantile(score, [0.2, 0.5, 0.8])
    y = 3 - np.searchsorted(cuts, score)
    X = np.stack([wither_h, moisture, roll_min, ferment_min, firing_c, tips_pct, leaf_mm], 1)
    return X.astype(np.float32), y.astype(np.int32)


Xtr, ytr = make_lots(16000)
Xte, yte = make_lots(3000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr_m, Xte_m = mx.array((Xtr - mu) / sd), mx.array((Xte - mu) / sd)
ytr_m, yte_m = mx.array(ytr), mx.array(yte)
majority = 100.0 * np.mean(yte == np.bincount(ytr).argmax())
print(f"lots: train {len(ytr)} test {len(yte)}; grade shares "
      + ", ".join(f"{g} {100 * np.mean(ytr == i):.0f}%" for i, g in enumerate(GRADES)))
print(f"majority-grade test accuracy: {majority:.1f}%")

model = nn.Sequential(nn.Linear(7, 96), nn.ReLU(), nn.Linear(96, 96), nn.ReLU(), nn.Linear(96, 4))
mx.eval(model.parameters())

BASE_LR, BASE_BATCH = 0.02, 32
STAGES = [(32, 600), (64, 500), (128, 400), (256, 400)]   # (batch, steps)
RAMP = 60

opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)


def test_metrics():
    logits = model(Xte_m)
    ce = nn.losses.cross_entropy(logits, yte_m, reduction="mean").item()
    acc = 100.0 * mx.mean(mx.argmax(logits, axis=1) == yte_m).item()
    return ce, acc


print()
print("| step | stage | batch | lr | train_ce | test_ce | test_acc % |")
print("|-----:|------:|------:|---:|---------:|--------:|-----------:|")
ce0, acc0 = test_metrics()
print(f"| 0 | - | - | 0 | - | {ce0:.4f} | {acc0:.1f} |")

t0 = time.time()
step = 0
prev_lr = 0.0
for si, (batch, n_steps) in enumerate(STAGES):
    target_lr = BASE_LR * batch / BASE_BATCH
    perm = rng.permutation(len(ytr))
    cursor = 0
    running = []
    for j in range(n_steps):
        ramp = min(1.0, j / RAMP)
        lr = prev_lr + (target_lr - prev_lr) * ramp
        opt.learning_rate = lr
        if cursor + batch > len(perm):
            perm = rng.permutation(len(ytr))
            cursor = 0
        idx = mx.array(perm[cursor:cursor + batch])
        cursor += batch
        loss, grads = loss_and_grad(model, Xtr_m[idx], ytr_m[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running.append(loss.item())
        step += 1
        if step % 100 == 0:
            ce, acc = test_metrics()
            print(f"| {step} | {si + 1} | {batch} | {lr:.4f} | {np.mean(running):.4f} | {ce:.4f} | {acc:.1f} |")
            running = []
    prev_lr = target_lr

ce, acc = test_metrics()
pred = np.array(mx.argmax(model(Xte_m), axis=1))
print()
print(f"final test accuracy {acc:.1f}% (majority {majority:.1f}%), test CE {ce:.4f}"
      f" (uniform {np.log(4):.4f}); per-grade recall "
      + ", ".join(f"{g} {100 * np.mean(pred[yte == i] == i):.0f}%" for i, g in enumerate(GRADES))
      + f"; {time.time() - t0:.1f}s")
