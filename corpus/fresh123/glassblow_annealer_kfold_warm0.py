"""Studio glassblowing: will a piece crack after the annealing cycle?

Synthetic kiln log (made-up physics-ish law), 5-fold cross-validation of a
small MLP.  Each fold starts from a fresh model, a learning rate that warms
up from exactly 0, and early stopping that restores the best weights.
"""
import logging
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s annealer: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("annealer")

rng = random.Random(7)
mx.random.seed(7)

FEATURES = ["wall_mm", "soak_C", "cool_C_per_h", "coe_mismatch", "mass_kg",
            "colour_layers", "glory_hole_min", "ambient_C"]


def make_kiln_log(n):
    rows, labels = [], []
    for _ in range(n):
        wall = rng.uniform(2.0, 14.0)
        soak = rng.gauss(482.0, 12.0)
        cool = math.exp(rng.uniform(math.log(15.0), math.log(160.0)))
        coe = abs(rng.gauss(0.0, 1.2))
        mass = rng.uniform(0.1, 4.0)
        layers = rng.randint(0, 4)
        gh = rng.uniform(2.0, 40.0)
        amb = rng.uniform(12.0, 34.0)
        # stress grows with thickness^2 * cooling rate, soak far from 482 C,
        # COE mismatch between colour layers; long reheats relieve a little
        z = (0.9 * (wall / 8.0) ** 2 * (cool / 60.0) + 1.3 * coe * (layers > 0)
             + 0.02 * abs(soak - 482.0) + 0.35 * mass - 0.015 * gh + 0.01 * (amb - 22.0) - 2.2)
        p = 1.0 / (1.0 + math.exp(-2.5 * z))
        rows.append([wall, soak, cool, coe, mass, layers, gh, amb])
        labels.append(1 if rng.random() < p else 0)
    return rows, labels


rows, labels = make_kiln_log(2400)
X_all = mx.array(rows)
y_all = mx.array(labels, dtype=mx.float32)
N = X_all.shape[0]


class CrackNet(nn.Module):
    def __init__(self, d_in, hidden=32):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        return self.out(h).squeeze(-1)


def bce(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y, with_logits=True, reduction="mean")


def auc(scores, y):
    s = scores.tolist(); t = y.tolist()
    pos = [a for a, b in zip(s, t) if b > 0.5]; neg = [a for a, b in zip(s, t) if b < 0.5]
    if not pos or not neg:
        return float("nan")
    wins = 0.0
    negs = sorted(neg)
    import bisect
    for p in pos:
        lo = bisect.bisect_left(negs, p); hi = bisect.bisect_right(negs, p)
        wins += lo + 0.5 * (hi - lo)
    return wins / (len(pos) * len(neg))


K = 5
perm = mx.array(list(range(N)))
order = list(range(N)); rng.shuffle(order)
folds = [order[i::K] for i in range(K)]
summary = []

for fold in range(K):
    va_idx = mx.array(folds[fold])
    tr_idx = mx.array([i for f in range(K) if f != fold for i in folds[f]])
    Xtr, ytr, Xva, yva = X_all[tr_idx], y_all[tr_idx], X_all[va_idx], y_all[va_idx]
    mu = Xtr.mean(axis=0); sd = Xtr.std(axis=0) + 1e-6
    Xtr = (Xtr - mu) / sd; Xva = (Xva - mu) / sd

    prev = ytr.mean().item()
    base_ll = -(prev * math.log(prev) + (1 - prev) * math.log(1 - prev))

    model = CrackNet(len(FEATURES))
    mx.eval(model.parameters())
    steps_per_epoch = Xtr.shape[0] // 64
    warm = optim.linear_schedule(0.0, 3e-3, 2 * steps_per_epoch)
    decay = optim.cosine_decay(3e-3, 60 * steps_per_epoch, 1e-4)
    opt = optim.AdamW(learning_rate=optim.join_schedules([warm, decay], [2 * steps_per_epoch]),
                      weight_decay=1e-3)
    grad_fn = nn.value_and_grad(model, bce)

    best, best_ep, best_params, patience = float("inf"), -1, None, 6
    log.info("fold %d/%d  train=%d val=%d  crack rate %.1f%%  baseline log-loss %.4f",
             fold + 1, K, Xtr.shape[0], Xva.shape[0], 100 * prev, base_ll)
    for epoch in range(60):
        p = mx.random.permutation(Xtr.shape[0])
        tot = 0.0
        for b in range(steps_per_epoch):
            idx = p[b * 64:(b + 1) * 64]
            loss, grads = grad_fn(model, Xtr[idx], ytr[idx])
            if fold == 0 and epoch == 0 and b == 0:
                zero = [k for k, g in tree_flatten(grads) if mx.abs(g).sum().item() == 0.0]
                log.info("grad audit: %d tensors, zero-grad tensors: %s",
                         len(tree_flatten(grads)), zero or "none")
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        val_logits = model(Xva)
        vl = nn.losses.binary_cross_entropy(val_logits, yva, with_logits=True).item()
        if epoch % 4 == 0 or vl < best:
            log.info("  f%d ep %02d  lr %.2e  train %.4f  val %.4f (base %.4f)  auc %.3f",
                     fold + 1, epoch, opt.learning_rate.item(), tot / steps_per_epoch, vl, base_ll,
                     auc(val_logits, yva))
        if vl < best - 1e-4:
            best, best_ep = vl, epoch
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
        elif epoch - best_ep >= patience:
            log.info("  f%d early stop at ep %d, restoring ep %d", fold + 1, epoch, best_ep)
            break
    model.update(best_params)
    mx.eval(model.parameters())
    vlog = model(Xva)
    final = nn.losses.binary_cross_entropy(vlog, yva, with_logits=True).item()
    acc = ((vlog > 0) == (yva > 0.5)).astype(mx.float32).mean().item()
    summary.append((fold + 1, best_ep, final, base_ll, auc(vlog, yva), 100 * acc))

print()
print("fold | best_ep | val_logloss | baseline | AUC   | acc %")
for f, e, v, bl, a, ac in summary:
    print(f"{f:4d} | {e:7d} | {v:11.4f} | {bl:8.4f} | {a:.3f} | {ac:5.1f}")
mv = sum(s[2] for s in summary) / K; mb = sum(s[3] for s in summary) / K
print(f"mean | {'':7s} | {mv:11.4f} | {mb:8.4f} | {sum(s[4] for s in summary)/K:.3f} | "
      f"{sum(s[5] for s in summary)/K:5.1f}")
