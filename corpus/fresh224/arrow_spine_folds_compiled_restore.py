"""Archery pro-shop: predict how a test arrow flies off the bow from its
set-up sheet (synthetic): good flight / weak spine / stiff spine / fletching
contact.

4-fold cross-validation; each fold gets a fresh network, a compiled train
step (model + optimizer state captured), SGD with Nesterov momentum and weight
decay, and early stopping on the held-out fold with the best weights restored.
Reporting goes through the logging module as a small table.
"""
import logging
import sys
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_map

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)-5s %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("spine")

rng = np.random.default_rng(2240)
N = 4800
draw_lbs = rng.uniform(25, 60, N)
arrow_len = rng.uniform(26, 32, N)          # inches
point_gr = rng.choice([75, 100, 125, 145], N).astype(float)
spine = rng.uniform(300, 900, N)            # static deflection (x1000 in)
fletch_len = rng.uniform(1.75, 5.0, N)
brace = rng.uniform(6.5, 8.5, N)
release = rng.integers(0, 2, N)             # 0 fingers, 1 mechanical
vane_clear = rng.normal(0, 1, N)

# made-up dynamic spine law: required deflection falls with draw weight,
# heavier points / longer shafts make the arrow act weaker
need = 1250 - 13.5 * draw_lbs - 0.9 * (point_gr - 100) - 22 * (arrow_len - 28)
mismatch = (spine - need) / 60 + rng.normal(0, 0.45, N)   # >0 acts weak
contact = (0.9 * fletch_len - 1.3 * (brace - 7.5) + 0.8 * (1 - release)
           + vane_clear + rng.normal(0, 0.5, N)) > 4.2
label = np.where(contact, 3, np.where(mismatch > 1.0, 1, np.where(mismatch < -1.0, 2, 0)))

X = np.column_stack([draw_lbs, arrow_len, point_gr, spine, fletch_len, brace,
                     release, vane_clear]).astype(np.float32)
y = label.astype(np.int32)
counts = np.bincount(y, minlength=4)
log.info("class mix good/weak/stiff/contact = %s", "/".join(str(c) for c in counts))

K = 4
fold_of = rng.permutation(N) % K


class FlightNet(nn.Module):
    def __init__(self, d_in):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, 96), nn.ReLU(),
                                  nn.Linear(96, 96), nn.ReLU())
        self.head = nn.Linear(96, 4)

    def __call__(self, x):
        return self.head(self.body(x))


def balanced_acc(logits, yy):
    pred = mx.argmax(logits, axis=-1)
    recalls = []
    for c in range(4):
        m = yy == c
        recalls.append((mx.sum((pred == yy) & m) / mx.maximum(mx.sum(m), 1)).item())
    return 100.0 * sum(recalls) / 4


log.info("%-4s %-5s %-9s %-9s %-8s %s", "fold", "epoch", "trn_xent", "hold_xent", "bal_acc", "note")
summary = []
for k in range(K):
    tr, ho = fold_of != k, fold_of == k
    mu, sd = X[tr].mean(0), X[tr].std(0) + 1e-6
    Xtr, Xho = mx.array((X[tr] - mu) / sd), mx.array((X[ho] - mu) / sd)
    ytr, yho = mx.array(y[tr]), mx.array(y[ho])

    mx.random.seed(100 + k)
    model = FlightNet(X.shape[1])
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)

    def xent(m, xb, yb):
        return nn.losses.cross_entropy(m(xb), yb, reduction="mean")

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(xb, yb):
        loss, grads = nn.value_and_grad(model, xent)(model, xb, yb)
        opt.update(model, grads)
        return loss

    best, best_params, best_epoch, patience, bad = float("inf"), None, 0, 5, 0
    n_tr = Xtr.shape[0]
    for epoch in range(1, 61):
        perm = mx.array(rng.permutation(n_tr))
        tot = 0.0
        nb = n_tr // 96
        for b in range(nb):
            idx = perm[b * 96:(b + 1) * 96]
            loss = train_step(Xtr[idx], ytr[idx])
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        logits = model(Xho)
        hold = nn.losses.cross_entropy(logits, yho, reduction="mean").item()
        note = ""
        if hold < best - 1e-4:
            best, best_epoch, bad = hold, epoch, 0
            best_params = tree_map(lambda p: mx.array(p), model.parameters())
            mx.eval(best_params)
            note = "*"
        else:
            bad += 1
        if epoch % 3 == 0 or note == "*" and epoch <= 2:
            log.info("%-4d %-5d %-9.4f %-9.4f %-8.1f %s", k, epoch, tot / nb, hold,
                     balanced_acc(logits, yho), note)
        if bad >= patience:
            log.info("%-4d %-5d stop: %d epochs without a better hold-out loss", k, epoch, patience)
            break
    model.update(best_params)
    mx.eval(model.parameters())
    logits = model(Xho)
    ba = balanced_acc(logits, yho)
    hx = nn.losses.cross_entropy(logits, yho, reduction="mean").item()
    log.info("fold %d restored epoch %d -> hold_xent %.4f  bal_acc %.1f (chance 25.0)", k, best_epoch, hx, ba)
    summary.append((k, best_epoch, hx, ba))

log.info("=" * 46)
for k, e, hx, ba in summary:
    log.info("fold %d | best epoch %2d | hold xent %.4f | bal_acc %5.1f", k, e, hx, ba)
log.info("mean bal_acc %.1f +/- %.1f over %d folds",
         np.mean([s[3] for s in summary]), np.std([s[3] for s in summary]), K)
