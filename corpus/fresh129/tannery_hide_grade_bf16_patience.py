# Tannery beam-house: grade salted raw hides (A / B / C / reject) from nine
# inspection readings.  The inspectors only graded 700 hides, so the net
# overfits after a while; we keep the best-validation weights and restore them.
# Whole model runs in bfloat16; the loss is accumulated in float32.
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(2129)
mx.random.seed(2129)
GRADES = ["A", "B", "C", "reject"]


def inspect(n):
    thick = rng.normal(4.0, 0.8, n)
    area = rng.normal(42, 8, n)
    scars = rng.poisson(2.0, n)
    brands = rng.integers(0, 3, n)
    ticks = rng.gamma(1.5, 1.0, n)
    moist = rng.normal(45, 5, n)
    ph = rng.normal(7.0, 0.6, n)
    salt = rng.normal(14, 2.5, n)
    days = rng.uniform(1, 60, n)
    defect = (0.55 * scars + 0.8 * brands + 0.7 * ticks + 0.04 * np.abs(moist - 45) ** 1.5
              + 0.9 * np.maximum(0, 11 - salt) * (days / 30) + 0.6 * np.abs(ph - 7)
              - 0.3 * (thick - 4) + rng.normal(0, 0.45, n))
    grade = np.digitize(defect, [2.2, 3.8, 5.6])
    x = np.stack([thick, area, scars, brands, ticks, moist, ph, salt, days], 1)
    return x, grade


x_tr, y_tr = inspect(700)
x_va, y_va = inspect(700)
x_te, y_te = inspect(3000)
mu, sd = x_tr.mean(0), x_tr.std(0)
prep = lambda x: mx.array(((x - mu) / sd).astype(np.float32)).astype(mx.bfloat16)
Xtr, Xva, Xte = prep(x_tr), prep(x_va), prep(x_te)
Ytr, Yva, Yte = mx.array(y_tr), mx.array(y_va), mx.array(y_te)

model = nn.Sequential(nn.Linear(9, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                      nn.Linear(256, 4))
model.set_dtype(mx.bfloat16)
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x).astype(mx.float32), y, reduction="mean")


def evaluate(x, y):
    logits = model(x).astype(mx.float32)
    loss = nn.losses.cross_entropy(logits, y, reduction="mean")
    acc = mx.mean(mx.argmax(logits, -1) == y)
    return loss.item(), acc.item()


vg = nn.value_and_grad(model, loss_fn)
_, g = vg(model, Xtr[:64], Ytr[:64])
zero = [k for k, v in tree_flatten(g) if float(mx.abs(v.astype(mx.float32)).sum()) == 0]
print("params with zero grad:", zero or "none")

opt = optim.SGD(learning_rate=0.02, momentum=0.9, nesterov=True)
EPOCHS, BS, PATIENCE = 80, 35, 12
nb = len(y_tr) // BS
best_loss, best_ep, best_w, waited = float("inf"), -1, None, 0
majority = np.bincount(y_tr).argmax()
print(f"grade mix (train) {np.round(100 * np.bincount(y_tr, minlength=4) / len(y_tr), 1)} %, "
      f"majority-grade baseline on valid {100 * np.mean(y_va == majority):.1f}%")
t0 = time.time()
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(len(y_tr)))
    tot = 0.0
    for b in range(nb):
        idx = perm[b * BS:(b + 1) * BS]
        loss, g = vg(model, Xtr[idx], Ytr[idx])
        opt.update(model, g)
        mx.eval(loss, model.parameters(), opt.state)
        tot += loss.item()
    vl, va = evaluate(Xva, Yva)
    bar = "#" * (ep * 20 // EPOCHS)
    sys.stdout.write(f"ep {ep:2d}/{EPOCHS} |{bar:<20}| {100 * ep / EPOCHS:3.0f}% "
                     f"trn {tot / nb:.3f} val {vl:.3f} acc {100 * va:.1f}% "
                     f"[{time.time() - t0:.1f}s]\n")
    if vl < best_loss - 1e-3:
        best_loss, best_ep, waited = vl, ep, 0
        best_w = tree_map(lambda p: mx.array(p), model.parameters())
        mx.eval(best_w)
    else:
        waited += 1
        if waited >= PATIENCE:
            print(f"no val improvement for {PATIENCE} epochs, stopping at epoch {ep}")
            break

model.update(best_w)
mx.eval(model.parameters())
vl, va = evaluate(Xva, Yva)
tl, ta = evaluate(Xte, Yte)
print(f"restored epoch {best_ep}: val {vl:.3f} (recorded {best_loss:.3f}), "
      f"test loss {tl:.3f} test acc {100 * ta:.1f}% vs majority {100 * np.mean(y_te == majority):.1f}%")
