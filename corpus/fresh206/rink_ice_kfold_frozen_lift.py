# Ice-rink surface condition (good / soft / chipped / frost) from resurfacer
# sensor readings.  5-fold CV, fixed random-feature "lift" layer frozen on
# purpose, SGD-Nesterov + grad clipping, early stopping with best restore.
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s rink: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("rink")

rng = np.random.default_rng(206)
N, D, K = 1500, 10, 4
CLASSES = ["good", "soft", "chipped", "frost"]

# sensors: surface temp, slab temp, air temp, humidity, dew gap, hours since flood,
# skate hours, water temp of last flood, brine pump duty, crowd count
Z = rng.normal(size=(N, D))
W1 = rng.normal(size=(D, 16)) / np.sqrt(D)
W2 = rng.normal(size=(16, K)) * 1.6
logits = np.tanh(Z @ W1 * 1.5) @ W2 + rng.gumbel(size=(N, K)) * 0.9
labels = logits.argmax(1)
Z = (Z - Z.mean(0)) / Z.std(0)
Xall = mx.array(Z, dtype=mx.float32)
yall = mx.array(labels, dtype=mx.int32)
folds = np.array_split(rng.permutation(N), 5)


class RinkNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.lift = nn.Linear(D, 160)       # fixed random features (frozen on purpose)
        self.h1 = nn.Linear(160, 48)
        self.h2 = nn.Linear(48, K)

    def __call__(self, x):
        z = mx.tanh(self.lift(x))
        return self.h2(nn.relu(self.h1(z)))


def loss_fn(m, xb, yb):
    return nn.losses.cross_entropy(m(xb), yb, reduction="mean")


def macro_f1(pred, y):
    f = []
    for k in range(K):
        tp = int(((pred == k) & (y == k)).sum())
        fp = int(((pred == k) & (y != k)).sum())
        fn = int(((pred != k) & (y == k)).sum())
        f.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return 100.0 * float(np.mean(f))


t0 = time.time()
summary = []
for fi in range(5):
    va_idx = folds[fi]
    tr_idx = np.concatenate([folds[j] for j in range(5) if j != fi])
    Xtr, ytr = Xall[mx.array(tr_idx)], yall[mx.array(tr_idx)]
    Xva = Xall[mx.array(va_idx)]
    yva_np = labels[va_idx]
    maj = np.bincount(labels[tr_idx], minlength=K).argmax()
    maj_f1 = macro_f1(np.full(len(va_idx), maj), yva_np)

    mx.random.seed(100 + fi)
    model = RinkNet()
    model.lift.freeze()
    lift_w0 = mx.array(model.lift.weight)
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
    vg = nn.value_and_grad(model, loss_fn)

    best_f1, best_ep, best_params, bad = -1.0, -1, None, 0
    for ep in range(1, 81):
        perm = rng.permutation(len(tr_idx))
        tot, gsum, clipped = 0.0, 0.0, 0
        for s in range(0, len(perm), 64):
            b = mx.array(perm[s:s + 64])
            loss, grads = vg(model, Xtr[b], ytr[b])
            grads, gnorm = optim.clip_grad_norm(grads, max_norm=1.0)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss, gnorm)
            tot += loss.item() * len(b.tolist())
            g = gnorm.item()
            gsum += g
            clipped += int(g > 1.0)
        nb = (len(perm) + 63) // 64
        pred = np.array(mx.argmax(model(Xva), axis=1))
        f1 = macro_f1(pred, yva_np)
        acc = 100.0 * float((pred == yva_np).mean())
        if f1 > best_f1:
            best_f1, best_ep, bad = f1, ep, 0
            best_params = tree_map(lambda a: mx.array(a), model.trainable_parameters())
            mx.eval(best_params)
        else:
            bad += 1
        if ep % 4 == 0 or ep == 1:
            log.info("fold %d/5 ep %02d  xent=%.4f  macroF1=%.1f%% acc=%.1f%% (majority F1 %.1f%%)  |g| mean %.2f, clipped %d/%d",
                     fi + 1, ep, tot / len(perm), f1, acc, maj_f1, gsum / nb, clipped, nb)
        if bad >= 10:
            log.info("fold %d/5 early stop at ep %d (no F1 gain for 10 epochs, best ep %d)", fi + 1, ep, best_ep)
            break

    model.update(best_params)
    mx.eval(model.parameters())
    pred = np.array(mx.argmax(model(Xva), axis=1))
    f1_restored = macro_f1(pred, yva_np)
    drift = mx.abs(model.lift.weight - lift_w0).max().item()
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    log.info("AUDIT fold %d: restored ep %d F1 %.1f%% (logged best %.1f%%, diff %.2e), frozen lift max drift %.1e, trainable %d params",
             fi + 1, best_ep, f1_restored, best_f1, abs(f1_restored - best_f1), drift, n_train)
    summary.append((f1_restored, maj_f1))

f1s = np.array([s[0] for s in summary])
print("-" * 64)
print(f"{'fold':>4} | {'macroF1 %':>9} | {'majority %':>10}")
for i, (a, b) in enumerate(summary, 1):
    print(f"{i:>4} | {a:9.1f} | {b:10.1f}")
print(f"mean | {f1s.mean():9.1f} | {np.mean([s[1] for s in summary]):10.1f}   (sd {f1s.std():.1f}, {time.time() - t0:.1f}s)")
