# Pottery kiln: 3-way glaze outcome (underfired / mature / overfired) from 6 firing-log features.
# 4-fold cross-validation, each fold trained from scratch; loss in bits; markdown table output.
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
N = 6000
X = rng.normal(size=(N, 6)).astype(np.float32)  # peak temp, hold, ramp, cone pack, glaze thickness, noise
heat = 1.4 * X[:, 0] + 0.7 * X[:, 1] + 0.4 * X[:, 2] * X[:, 0] - 0.5 * X[:, 4] ** 2 + 0.3 * X[:, 3]
heat = heat + rng.logistic(0, 0.5, size=N)
y = np.digitize(heat, [-0.8, 0.9]).astype(np.int32)
FOLDS, EPOCHS, BS = 4, 10, 64
fold_of = rng.permutation(N) % FOLDS

def make_model():
    return nn.Sequential(nn.Linear(6, 80), nn.ReLU(), nn.Linear(80, 80), nn.ReLU(), nn.Linear(80, 3))

def loss_fn(model, xb, yb):
    return nn.losses.cross_entropy(model(xb), yb, reduction="mean")

LN2 = math.log(2.0)
print("| fold | epoch | train bits | held-out bits | held-out acc % | secs |")
print("|---:|---:|---:|---:|---:|---:|")
results = []
for f in range(FOLDS):
    tr, te = np.where(fold_of != f)[0], np.where(fold_of == f)[0]
    Xtr, ytr = mx.array(X[tr]), mx.array(y[tr])
    Xte, yte = mx.array(X[te]), mx.array(y[te])
    mx.random.seed(100 + f)
    model = make_model()
    mx.eval(model.parameters())
    opt = optim.Adagrad(learning_rate=0.05)
    vg = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    def held_out():
        logits = model(Xte)
        bits = loss_fn(model, Xte, yte).item() / LN2
        acc = (mx.argmax(logits, axis=1) == yte).astype(mx.float32).mean().item() * 100
        return bits, acc
    b0, a0 = held_out()
    print(f"| {f} | 0 | - | {b0:.3f} | {a0:.1f} | 0.0 |")
    for ep in range(1, EPOCHS + 1):
        perm = rng.permutation(len(tr))
        tot, nb = 0.0, 0
        for i in range(0, len(tr) - BS + 1, BS):
            idx = mx.array(perm[i:i + BS])
            loss, g = vg(model, Xtr[idx], ytr[idx])
            if f == 0 and ep == 1 and i == 0:
                fl = tree_flatten(g)
                zl = [k for k, v in fl if mx.abs(v).max().item() == 0]
                first_grad_note = f"fold 0 first step: {len(fl)} gradient leaves, zero {zl}"
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); nb += 1
        if ep % 2 == 0:
            b, a = held_out()
            print(f"| {f} | {ep} | {tot / nb / LN2:.3f} | {b:.3f} | {a:.1f} | {time.time() - t0:.1f} |")
    results.append(held_out())
print()
print(first_grad_note)
bits = np.array([r[0] for r in results]); accs = np.array([r[1] for r in results])
print(f"cv held-out bits {bits.mean():.3f} +- {bits.std():.3f} (uniform guess {math.log2(3):.3f}); "
      f"cv acc {accs.mean():.1f}% +- {accs.std():.1f}%; majority class {np.bincount(y).max() / N * 100:.1f}%")
