"""Fresco painting: is today's patch of intonaco ready for pigment?

Classes: 0 = too wet (colour sinks), 1 = buon-fresco window, 2 = crust formed.
Readings per patch: hours since the intonaco went on, wall temperature,
relative humidity, lime:sand ratio, plaster thickness and draught speed.

MLP with a softsign activation whose backward pass is written by hand
(mx.custom_function + vjp), plain Nesterov-momentum SGD written out with
tree_map, gradients averaged over an mx.distributed group (one process here),
3-fold cross-validation with early stopping that restores the best weights.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

world = mx.distributed.init()
rank, nproc = world.rank(), world.size()

rng = np.random.default_rng(2024)
N = 2400
hours = rng.uniform(0.5, 14, N)
temp = rng.uniform(8, 30, N)
rh = rng.uniform(35, 95, N)
lime = rng.uniform(0.25, 0.5, N)
thick = rng.uniform(5, 15, N)
draught = rng.exponential(0.6, N)
rate = np.exp(0.045 * (temp - 18)) * (1.6 - rh / 100) * (1 + 0.5 * draught) * (10 / thick) * (0.7 + lime)
progress = hours * rate
# ordinal thresholds, labels drawn from a logistic model so the task is noisy
logits = np.stack([-(progress - 2.5), np.zeros(N), (progress - 7.0)], 1) * 1.6
p = np.exp(logits - logits.max(1, keepdims=True))
p /= p.sum(1, keepdims=True)
labels = np.array([rng.choice(3, p=row) for row in p])
X = np.stack([hours, temp, rh, lime, thick, draught], 1).astype(np.float32)
X = (X - X.mean(0)) / X.std(0)
order = rng.permutation(N)
folds = np.array_split(order, 3)


@mx.custom_function
def softsign(x):
    return x / (1 + mx.abs(x))


@softsign.vjp
def softsign_vjp(x, cotangent, output):
    return cotangent / (1 + mx.abs(x)) ** 2


# check the hand-written backward pass against central differences once
xc = mx.array(np.linspace(-3, 3, 12).astype(np.float32))
g_hand = mx.grad(lambda z: softsign(z).sum())(xc)
eps = 1e-3
g_fd = ((xc + eps) / (1 + mx.abs(xc + eps)) - (xc - eps) / (1 + mx.abs(xc - eps))) / (2 * eps)
print(f"[vjp-check] softsign max|hand - fd| = {mx.max(mx.abs(g_hand - g_fd)).item():.2e}")


class PatchNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(6, 48)
        self.b = nn.Linear(48, 48)
        self.c = nn.Linear(48, 3)

    def __call__(self, x):
        return self.c(softsign(self.b(softsign(self.a(x)))))


def nll(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, x, y):
    logits = model(x)
    return nll(model, x, y).item(), 100.0 * mx.mean(mx.argmax(logits, 1) == y).item()


def allreduce_mean(grads):
    return tree_map(lambda g: mx.distributed.all_sum(g, group=world) / nproc, grads)


lr, mom, wd, batch = 0.05, 0.9, 1e-4, 64
max_epochs, patience = 60, 6
t0 = time.time()
fold_acc, fold_base = [], []
print(f"rank {rank}/{nproc} | {N} patches | 3 folds")
print(f"{'fold':>4} {'ep':>3} {'train_nll':>9} {'val_nll':>8} {'val_acc%':>8} {'best':>5}")
for k in range(3):
    va_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(3) if j != k])
    xtr, ytr = mx.array(X[tr_idx]), mx.array(labels[tr_idx])
    xva, yva = mx.array(X[va_idx]), mx.array(labels[va_idx])
    majority = np.bincount(labels[tr_idx]).argmax()
    base_acc = 100.0 * float(np.mean(labels[va_idx] == majority))

    mx.random.seed(100 + k)
    model = PatchNet()
    velocity = tree_map(mx.zeros_like, model.parameters())
    mx.eval(model.parameters(), velocity)
    vg = nn.value_and_grad(model, nll)

    if k == 0:
        _, g0 = vg(model, xtr[:batch], ytr[:batch])
        dead = [name for name, g in tree_flatten(g0) if mx.all(g == 0).item()]
        print(f"[grad-check] {len(tree_flatten(g0))} tensors, all-zero: {dead}")

    best_val, best_ep, best_params, bad = math.inf, 0, None, 0
    for ep in range(1, max_epochs + 1):
        perm = mx.array(rng.permutation(len(tr_idx)))
        tot, nb = 0.0, 0
        for s in range(0, len(tr_idx), batch):
            bi = perm[s:s + batch]
            loss, grads = vg(model, xtr[bi], ytr[bi])
            grads = allreduce_mean(grads)
            params = model.parameters()
            grads = tree_map(lambda g, p: g + wd * p, grads, params)
            velocity = tree_map(lambda v, g: mom * v + g, velocity, grads)
            new_params = tree_map(lambda p, v, g: p - lr * (g + mom * v), params, velocity, grads)
            model.update(new_params)
            mx.eval(model.parameters(), velocity, loss)
            tot += loss.item()
            nb += 1
        vloss, vacc = evaluate(model, xva, yva)
        mark = ""
        if vloss < best_val - 1e-4:
            best_val, best_ep, bad = vloss, ep, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
            mark = "*"
        else:
            bad += 1
        print(f"{k + 1:>4} {ep:>3} {tot / nb:>9.4f} {vloss:>8.4f} {vacc:>8.2f} {mark:>5}")
        if bad >= patience:
            print(f"     early stop at epoch {ep}; restoring epoch {best_ep}")
            break
    model.update(best_params)
    mx.eval(model.parameters())
    vloss, vacc = evaluate(model, xva, yva)
    fold_acc.append(vacc)
    fold_base.append(base_acc)
    print(f"fold {k + 1} restored: val_nll {vloss:.4f} acc {vacc:.2f}% (majority-class {base_acc:.2f}%)")

print("-" * 52)
print(f"cv accuracy {np.mean(fold_acc):.2f}% +/- {np.std(fold_acc):.2f} | majority {np.mean(fold_base):.2f}% | "
      f"{time.time() - t0:.1f}s")
