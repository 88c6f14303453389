"""Locksmith counter: identify the key-blank family from a caliper reading.

Six blank families (KW1, SC1, Y1, M1, WR5, AR4 - names only for show) are told apart
by 8 synthetic measurements: blade length, width, thickness, shoulder offset,
groove depth, groove angle, bow width, tip taper.  Families overlap, wear and
the caliper add noise.

4-fold cross-validation; each fold trains a fresh MLP with a hand-written
"softclip" activation (mx.custom_function with its own VJP), SGD + Nesterov
momentum with a step decay, and early stopping that restores the best weights.
"""
import logging
import math
import sys

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)-7s %(name)s | %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("keybench")

FAMILIES = ["KW1", "SC1", "Y1", "M1", "WR5", "AR4"]
rng = np.random.default_rng(20261126)

# family prototypes in mm / degrees
proto = np.array([
    # len  width thick shoulder groove_d groove_ang bow  taper
    [29.0, 8.6, 2.1, 3.2, 0.55, 90.0, 24.0, 0.9],
    [28.4, 8.9, 2.0, 3.0, 0.60, 95.0, 25.5, 1.0],
    [29.6, 8.3, 2.2, 3.4, 0.50, 88.0, 23.0, 0.8],
    [27.2, 9.2, 2.3, 2.8, 0.70, 100.0, 26.0, 1.2],
    [30.4, 8.5, 1.9, 3.6, 0.45, 85.0, 24.5, 0.7],
    [28.8, 8.7, 2.4, 3.1, 0.65, 92.0, 22.5, 1.1],
])
spread = np.array([0.7, 0.25, 0.12, 0.25, 0.08, 4.0, 1.2, 0.15])


def measure(n):
    y = rng.integers(0, 6, size=n)
    wear = rng.uniform(0, 1, size=(n, 1))
    x = proto[y] + rng.normal(0, 1, size=(n, 8)) * spread
    x[:, 0] -= 0.6 * wear[:, 0]          # worn keys are shorter
    x[:, 4] -= 0.10 * wear[:, 0]         # and have shallower grooves
    return x.astype(np.float32), y.astype(np.int32)


Xall, yall = measure(4800)


@mx.custom_function
def softclip(x):
    # x / (1 + |x|) scaled: smooth, bounded in (-2, 2)
    return 2.0 * x / (1.0 + mx.abs(x))


@softclip.vjp
def softclip_vjp(primals, cotangent, output):
    x = primals  # single input: the array itself
    d = 1.0 + mx.abs(x)
    return cotangent * 2.0 / (d * d)


class BlankNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 96)
        self.l2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, 6)

    def __call__(self, x):
        return self.out(softclip(self.l2(softclip(self.l1(x)))))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def macro_f1(pred, y, k=6):
    f = []
    for c in range(k):
        tp = np.sum((pred == c) & (y == c)); fp = np.sum((pred == c) & (y != c)); fn = np.sum((pred != c) & (y == c))
        f.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f))


# audit: hand-written VJP against autodiff of the same formula
probe = mx.array(rng.normal(0, 2, size=(64,)).astype(np.float32))
g_custom = mx.grad(lambda z: softclip(z).sum())(probe)
g_auto = mx.grad(lambda z: (2.0 * z / (1.0 + mx.abs(z))).sum())(probe)
log.info("audit softclip vjp: max|custom-auto|=%.2e  |custom|=%.4f", mx.abs(g_custom - g_auto).max().item(),
         mx.sqrt(mx.sum(g_custom * g_custom)).item())

K = 4
folds = np.array_split(rng.permutation(len(yall)), K)
summary = []
for fold in range(K):
    te = folds[fold]
    tr = np.concatenate([folds[j] for j in range(K) if j != fold])
    mu, sd = Xall[tr].mean(0), Xall[tr].std(0)
    Xtr = mx.array((Xall[tr] - mu) / sd); ytr = mx.array(yall[tr])
    Xte = mx.array((Xall[te] - mu) / sd); yte_np = yall[te]; yte = mx.array(yte_np)

    mx.random.seed(100 + fold)
    model = BlankNet()
    mx.eval(model.parameters())
    sched = optim.step_decay(0.08, 0.5, 600)
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True, weight_decay=1e-4)
    step_fn = nn.value_and_grad(model, loss_fn)

    if fold == 0:
        _, g0 = step_fn(model, Xtr[:512], ytr[:512])
        zero = [k for k, g in tree_flatten(g0) if mx.abs(g).sum().item() == 0]
        log.info("audit grads: %d tensors, %d all-zero", len(tree_flatten(g0)), len(zero))

    best = (math.inf, -1, None)
    patience, bad = 6, 0
    bs = 64
    chance = 100.0 * (1 - np.bincount(yall[tr]).max() / len(tr))
    p0 = np.array(mx.argmax(model(Xte), axis=1))
    log.info("fold %d/%d ep  0  (untrained) held_xent=%.4f  err=%5.2f%%", fold + 1, K,
             loss_fn(model, Xte, yte).item(), 100.0 * np.mean(p0 != yte_np))
    for epoch in range(1, 41):
        perm = mx.array(rng.permutation(len(tr)))
        run = 0.0
        nb = len(tr) // bs
        for b in range(nb):
            idx = perm[b * bs:(b + 1) * bs]
            loss, grads = step_fn(model, Xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        logits = model(Xte)
        vloss = loss_fn(model, Xte, yte).item()
        pred = np.array(mx.argmax(logits, axis=1))
        err = 100.0 * np.mean(pred != yte_np)
        f1 = macro_f1(pred, yte_np)
        mark = ""
        if vloss < best[0] - 1e-4:
            best = (vloss, epoch, tree_map(lambda a: mx.array(a), model.parameters()))
            bad = 0
            mark = " *"
        else:
            bad += 1
        if epoch % 4 == 1 or mark == "" and bad == patience:
            log.info("fold %d/%d ep %2d  lr=%.4f  train_xent=%.4f  held_xent=%.4f  err=%5.2f%% (chance %5.2f%%)  mF1=%.3f%s",
                     fold + 1, K, epoch, opt.learning_rate.item(), run / nb, vloss, err, chance, f1, mark)
        if bad >= patience:
            log.warning("fold %d: no held-out improvement for %d epochs, stopping at ep %d; restoring ep %d (held_xent %.4f)",
                        fold + 1, patience, epoch, best[1], best[0])
            break
    model.update(best[2])
    mx.eval(model.parameters())
    pred = np.array(mx.argmax(model(Xte), axis=1))
    err = 100.0 * np.mean(pred != yte_np)
    f1 = macro_f1(pred, yte_np)
    vloss = loss_fn(model, Xte, yte).item()
    log.info("fold %d restored: held_xent=%.4f err=%.2f%% mF1=%.3f", fold + 1, vloss, err, f1)
    summary.append((fold + 1, best[1], vloss, err, f1))

print()
print("fold | best_ep | held_xent | err %  | macro-F1")
print("-----+---------+-----------+--------+---------")
for f, e, v, er, f1 in summary:
    print(f"{f:4d} | {e:7d} | {v:9.4f} | {er:6.2f} | {f1:7.3f}")
arr = np.array([s[2:] for s in summary])
print(f"mean |         | {arr[:,0].mean():9.4f} | {arr[:,1].mean():6.2f} | {arr[:,2].mean():7.3f}")
