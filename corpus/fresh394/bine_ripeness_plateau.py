# Hop yard: call each bine's cone ripeness (green / ready / overripe) from field readings.
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(5)
CLASSES = ["green", "ready", "overripe"]


def field_readings(n):
    dry_matter = rng.normal(22, 3, n)        # %
    alpha = rng.normal(11, 2, n)             # alpha acids %
    lupulin = rng.uniform(0, 1, n)           # colour score
    days = rng.uniform(-10, 20, n)           # days from typical harvest
    aroma = rng.normal(0, 1, n)              # panel aroma score
    z = 0.35 * (dry_matter - 22) + 0.12 * days + 0.8 * (lupulin - 0.5)
    logits = np.stack([-1.6 * z + 0.3 * aroma, 0.9 - 0.25 * z ** 2, 1.7 * z - 0.9], 1)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in p])
    X = np.stack([dry_matter, alpha, lupulin, days, aroma], 1).astype(np.float32)
    return X, y.astype(np.int32), p


Xtr, ytr, ptr = field_readings(8000)
Xte, yte, pte = field_readings(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr_m, Xte_m = mx.array((Xtr - mu) / sd), mx.array((Xte - mu) / sd)
ytr_m, yte_m = mx.array(ytr), mx.array(yte)

bayes_ce = float(-np.mean(np.log(pte[np.arange(len(yte)), yte])))
bayes_acc = float(np.mean(pte.argmax(1) == yte))
prior = np.bincount(ytr, minlength=3) / len(ytr)
prior_ce = float(-np.mean(np.log(prior[yte])))
print(f"bines: 8000 train / 2000 test; class shares {np.round(prior, 3).tolist()}")
print(f"reference on test: true-probability CE {bayes_ce:.4f} nats, acc {bayes_acc:.3f}; "
      f"class-share CE {prior_ce:.4f}, majority acc {prior.max():.3f}")

mx.random.seed(5)
model = nn.Sequential(nn.Linear(5, 96), nn.ReLU(), nn.Dropout(0.1),
                      nn.Linear(96, 96), nn.ReLU(), nn.Linear(96, 3))
opt = optim.SGD(learning_rate=0.1, momentum=0.9, nesterov=True)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)
mx.eval(model.parameters())


def evaluate():
    model.eval()
    lo = model(Xte_m)
    ce = nn.losses.cross_entropy(lo, yte_m, reduction="mean").item()
    acc = mx.mean(mx.argmax(lo, 1) == yte_m).item()
    model.train()
    return ce, acc


# hand-rolled reduce-on-plateau: halve the rate after 2 epochs without a test-CE gain
lr, patience, wait, best = 0.1, 2, 0, math.inf
BS, EPOCHS = 128, 30
t0 = time.time()
print(f"{'ep':>3} {'lr':>9} {'train_ce':>9} {'test_ce':>9} {'test_acc':>8} {'':>2}")
for ep in range(1, EPOCHS + 1):
    opt.learning_rate = lr
    perm = mx.array(rng.permutation(8000))
    tot, nb = 0.0, 0
    for i in range(0, 8000 - BS + 1, BS):
        idx = perm[i:i + BS]
        loss, g = vg(model, Xtr_m[idx], ytr_m[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    ce, acc = evaluate()
    mark = ""
    if ce < best - 1e-4:
        best, wait, mark = ce, 0, "*"
    else:
        wait += 1
    print(f"{ep:>3} {lr:>9.2e} {tot / nb:>9.4f} {ce:>9.4f} {acc:>8.3f} {mark:>2}")
    if wait >= patience:
        lr, wait = lr * 0.5, 0
print(f"done in {time.time() - t0:.1f}s: best test CE {best:.4f} vs reference {bayes_ce:.4f} "
      f"(excess {best - bayes_ce:+.4f} nats); final lr {lr:.2e}")
