"""Wasabi rhizome grading (A / B / reject) from stream-bed measurements.

3-fold cross-validation; each fold trains a fresh MLP with Adamax, gradients
are averaged with mx.distributed.all_sum (one process here, same code runs on
several hosts), early stopping on validation cross-entropy with the best
weights restored at the end of each fold. One JSON line per evaluation.
"""
import json
import logging

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("wasabi")

group = mx.distributed.init()
RANK, WORLD = group.rank(), group.size()
log.info("distributed group: rank %d of %d", RANK, WORLD)

mx.random.seed(11 + RANK)
N = 3600
COLS = ["water_c", "do_mgL", "flow_Ls", "shade_pct", "months", "nitrate_mgL",
        "gravel_mm", "rot_spots"]


def make_beds(n, key):
    k1, k2 = mx.random.split(key)
    u = mx.random.uniform(shape=(n, 8), key=k1)
    water = 9 + 10 * u[:, 0]
    do = 6 + 6 * u[:, 1]
    flow = 2 + 30 * u[:, 2]
    shade = 20 + 70 * u[:, 3]
    months = 10 + 14 * u[:, 4]
    nitrate = 0.5 + 5 * u[:, 5]
    gravel = 5 + 45 * u[:, 6]
    rot = mx.floor(4 * u[:, 7] ** 3)
    # made-up quality score: cool clear fast water, shade ~55 %, long growth
    score = (-0.55 * (water - 13.0) ** 2 / 4.0
             + 0.6 * (do - 8.0)
             + 1.2 * mx.tanh((flow - 10.0) / 6.0)
             - 0.0018 * (shade - 55.0) ** 2
             + 0.22 * (months - 16.0)
             - 0.35 * nitrate
             - 1.1 * rot
             + 0.5 * mx.sin(gravel / 8.0))
    score = score + 0.6 * mx.random.normal(shape=(n,), key=k2)
    y = mx.where(score > 1.0, 0, mx.where(score > -1.5, 1, 2))   # 0=A 1=B 2=reject
    X = mx.stack([water, do, flow, shade, months, nitrate, gravel, rot], axis=1)
    return X, y.astype(mx.int32)


X_all, y_all = make_beds(N, mx.random.key(5))
counts = [int((y_all == k).sum().item()) for k in range(3)]
log.info("class counts A/B/reject = %s", counts)
majority_pct = 100.0 * max(counts) / N

perm = mx.random.permutation(N, key=mx.random.key(99))
X_all, y_all = X_all[perm], y_all[perm]
folds = [mx.arange(i, N, 3) for i in range(3)]


class Grader(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 3)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


def all_reduce_mean(grads):
    return tree_map(lambda g: mx.distributed.all_sum(g, group=group) / WORLD, grads)


MAX_EPOCHS, PATIENCE, BATCH = 80, 8, 96
summary = []
for f, val_idx in enumerate(folds):
    tr_idx = mx.concatenate([folds[j] for j in range(3) if j != f])
    Xtr, ytr = X_all[tr_idx], y_all[tr_idx]
    Xva, yva = X_all[val_idx], y_all[val_idx]
    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
    Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd

    model = Grader()
    mx.eval(model.parameters())
    opt = optim.Adamax(learning_rate=4e-3)
    step_fn = nn.value_and_grad(model, loss_fn)

    _, g0 = step_fn(model, Xtr[:128], ytr[:128])
    dead = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0.0]
    log.info("fold %d grad check: zero-grad tensors=%s", f, dead or "none")

    best = (float("inf"), -1, None)
    bad = 0
    n_tr = Xtr.shape[0]
    for epoch in range(MAX_EPOCHS):
        order = mx.random.permutation(n_tr)
        tot, nb = 0.0, 0
        for b in range(0, n_tr, BATCH):
            idx = order[b:b + BATCH]
            loss, grads = step_fn(model, Xtr[idx], ytr[idx])
            grads = all_reduce_mean(grads)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        logits = model(Xva)
        v_xent = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
        v_acc = 100.0 * (mx.argmax(logits, axis=1) == yva).mean().item()
        print(json.dumps({"fold": f, "epoch": epoch, "train_xent": round(tot / nb, 4),
                          "val_xent": round(v_xent, 4), "val_acc_pct": round(v_acc, 2),
                          "majority_pct": round(majority_pct, 2), "patience_left": PATIENCE - bad}))
        if v_xent < best[0] - 1e-4:
            best = (v_xent, epoch, tree_map(lambda a: mx.array(a), model.parameters()))
            bad = 0
        else:
            bad += 1
            if bad >= PATIENCE:
                log.info("fold %d: early stop at epoch %d (best epoch %d)", f, epoch, best[1])
                break

    model.update(best[2])
    mx.eval(model.parameters())
    logits = model(Xva)
    r_xent = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
    r_acc = 100.0 * (mx.argmax(logits, axis=1) == yva).mean().item()
    log.info("fold %d restored epoch %d: val_xent %.4f (best seen %.4f, |diff| %.1e) acc %.2f%%",
             f, best[1], r_xent, best[0], abs(r_xent - best[0]), r_acc)
    summary.append((f, best[1], r_xent, r_acc))

print("fold | best_ep | val_xent | acc_%")
for f, e, x, a in summary:
    print(f"{f:4d} | {e:7d} | {x:8.4f} | {a:5.2f}")
mean_acc = sum(s[3] for s in summary) / len(summary)
print(f"mean | {'':7s} | {sum(s[2] for s in summary)/3:8.4f} | {mean_acc:5.2f}   (majority class {majority_pct:.2f}%)")
