"""Lobster-pot sorting aid: classify each hauled lobster as
undersize (return), legal (keep) or berried (egg-bearing, notch and return)
from seven deck measurements.  Synthetic data with a made-up biology.

Three seeds in a row, each with early stopping on validation cross-entropy and
a restore of the best weights.  The training step is compiled and the
gradients go through mx.distributed.all_sum (a single-process group here, so
the mean over world size is the gradient itself).
"""
import json
import logging
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("potsort")

CLASSES = ["undersize", "legal", "berried"]


def haul(n, rs):
    carapace = rs.normal(84.0, 9.0, n)          # mm
    female = rs.random(n) < 0.5
    abdomen_w = carapace * np.where(female, 0.62, 0.50) + rs.normal(0, 2.0, n)
    month = rs.integers(1, 13, n)
    pleopod = np.where(female, rs.beta(2, 3, n), rs.beta(1, 9, n))  # fouling index
    water_t = 8 + 6 * np.sin((month - 4) / 12 * 2 * np.pi) + rs.normal(0, 1, n)
    weight = 0.0009 * carapace ** 2.9 / 1000 * np.exp(rs.normal(0, 0.08, n))  # kg
    soft = rs.random(n) < 0.15                    # post-moult shell
    # latent scores
    p_berried = 1 / (1 + np.exp(-(6 * (pleopod - 0.45) + 0.08 * (carapace - 80)
                                   + 1.2 * np.cos((month - 11) / 12 * 2 * np.pi))))
    berried = female & (rs.random(n) < p_berried)
    under = (carapace + rs.normal(0, 1.5, n)) < 81.0
    y = np.where(berried, 2, np.where(under, 0, 1))
    X = np.stack([carapace, abdomen_w, female.astype(float), pleopod,
                  np.sin(month / 12 * 2 * np.pi), np.cos(month / 12 * 2 * np.pi),
                  water_t, weight, soft.astype(float)], 1)
    return X.astype(np.float32), y.astype(np.int32)


data_rs = np.random.default_rng(2026)
Xtr, ytr = haul(6000, data_rs)
Xva, yva = haul(1200, data_rs)
Xte, yte = haul(1200, data_rs)
mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
Xtr, Xva, Xte = [(a - mu) / sd for a in (Xtr, Xva, Xte)]
Xva_m, yva_m = mx.array(Xva), mx.array(yva)
Xte_m, yte_m = mx.array(Xte), mx.array(yte)

group = mx.distributed.init()
world = group.size()
log.info("distributed group: rank %d of %d", group.rank(), world)

majority = np.bincount(ytr).argmax()
log.info("class shares train: %s; majority-class test acc %.1f%%",
         json.dumps({c: round(float((ytr == i).mean()), 3) for i, c in enumerate(CLASSES)}),
         100 * float((yte == majority).mean()))


class Sorter(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(9, 48)
        self.b = nn.Linear(48, 48)
        self.head = nn.Linear(48, 3)

    def __call__(self, x):
        h = nn.gelu(self.a(x))
        h = nn.gelu(self.b(h)) + h
        return self.head(h)


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def balanced_acc(logits, y):
    hit = (mx.argmax(logits, axis=1) == y).astype(mx.float32)
    recs = []
    for c in range(3):
        m = (y == c).astype(mx.float32)
        if m.sum().item() > 0:
            recs.append(((hit * m).sum() / m.sum()).item())
    return 100.0 * sum(recs) / len(recs)


def run_seed(seed, max_epochs=40, patience=5, batch=96):
    mx.random.seed(seed)
    rs = np.random.default_rng(seed)
    model = Sorter()
    opt = optim.RMSprop(learning_rate=2e-3, alpha=0.95)
    opt.init(model.trainable_parameters())
    mx.eval(model.parameters(), opt.state)
    vg = nn.value_and_grad(model, xent)

    # first-batch gradient audit: every tensor must receive a non-zero gradient
    _, g = vg(model, mx.array(Xtr[:batch]), mx.array(ytr[:batch]))
    zero = [k for k, v in tree_flatten(g) if float(mx.abs(v).max()) == 0.0]
    log.info("seed %d grad audit: %d tensors, %d all-zero", seed, len(tree_flatten(g)), len(zero))

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = vg(model, x, y)
        grads = tree_map(lambda t: mx.distributed.all_sum(t, group=group) / world, grads)
        opt.update(model, grads)
        return loss

    best, best_ep, best_w, bad = float("inf"), 0, None, 0
    for ep in range(1, max_epochs + 1):
        perm = rs.permutation(len(Xtr))
        tot, nb = 0.0, 0
        for i in range(0, len(perm) - batch + 1, batch):
            idx = perm[i:i + batch]
            loss = step(mx.array(Xtr[idx]), mx.array(ytr[idx]))
            mx.eval(loss, model.state, opt.state)
            tot += loss.item()
            nb += 1
        vlog = model(Xva_m)
        vloss = nn.losses.cross_entropy(vlog, yva_m, reduction="mean").item()
        rec = {"seed": seed, "epoch": ep, "train_xent": round(tot / nb, 4),
               "val_xent": round(vloss, 4), "val_bal_acc": round(balanced_acc(vlog, yva_m), 2)}
        if vloss < best - 1e-4:
            best, best_ep, bad = vloss, ep, 0
            best_w = tree_map(lambda t: mx.array(t), model.parameters())
            mx.eval(best_w)
            rec["best"] = True
        else:
            bad += 1
        log.info(json.dumps(rec))
        if bad >= patience:
            log.info("seed %d: no val improvement for %d epochs, stopping at %d", seed, patience, ep)
            break
    model.update(best_w)
    mx.eval(model.parameters())
    tl = model(Xte_m)
    test_x = nn.losses.cross_entropy(tl, yte_m, reduction="mean").item()
    acc = 100.0 * mx.mean(mx.argmax(tl, 1) == yte_m).item()
    log.info("seed %d: restored epoch %d (val %.4f) -> test xent %.4f, acc %.1f%%, balanced %.1f%%",
             seed, best_ep, best, test_x, acc, balanced_acc(tl, yte_m))
    return test_x, acc


t0 = time.time()
results = [run_seed(s) for s in (11, 12, 13)]
xs, accs = zip(*results)
print(f"summary over 3 seeds: test xent {np.mean(xs):.4f} +/- {np.std(xs):.4f}, "
      f"acc {np.mean(accs):.1f}% (majority {100 * float((yte == majority).mean()):.1f}%), "
      f"{time.time() - t0:.1f}s")
