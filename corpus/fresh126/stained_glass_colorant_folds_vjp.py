"""Stained-glass studio: identify the colorant of a glass sheet (cobalt blue,
copper green, gold pink, manganese purple, iron amber) from a 9-band
transmission reading taken through sheets of varying thickness.

4-fold cross-validation; every fold restarts its own step counter and its own
learning-rate warmup (which starts at exactly 0), stops early on validation
NLL and restores the best weights.  The hidden nonlinearity is a softsign with
a hand-written VJP, audited against autodiff before training."""
import logging
import math
import sys

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(levelname)-5s %(name)s | %(message)s")
log = logging.getLogger("glassbench")

rng = np.random.default_rng(2026)
BANDS = np.linspace(400, 720, 9)  # nm
COLORANTS = ["cobalt", "copper", "gold", "manganese", "iron"]
ABS_CENTRE = {"cobalt": [590, 640], "copper": [700, 450],
              "gold": [540, 520], "manganese": [520, 560],
              "iron": [420, 450]}
ABS_WIDTH = [45.0, 70.0]
ABS_DEPTH = {"cobalt": [1.1, 0.6], "copper": [1.0, 0.3],
             "gold": [0.9, 0.3], "manganese": [0.7, 0.4],
             "iron": [1.2, 0.5]}


def make_sheets(n):
    y = rng.integers(0, 5, n)
    thick = rng.uniform(2.0, 6.0, n)  # mm
    X = np.zeros((n, len(BANDS)))
    for i in range(n):
        c = COLORANTS[y[i]]
        a = np.zeros(len(BANDS))
        for j in range(2):
            centre = ABS_CENTRE[c][j] + rng.normal(0, 12)
            a += ABS_DEPTH[c][j] * np.exp(-0.5 * ((BANDS - centre) / ABS_WIDTH[j]) ** 2)
        a = a * thick[i] / 4.0 + 0.02 * thick[i]
        X[i] = 100.0 * np.exp(-a) + rng.normal(0, 2.5, len(BANDS))  # % transmission
    return np.clip(X, 0.5, 100.0).astype(np.float32), y.astype(np.int32)


@mx.custom_function
def softsign(x):
    return x / (1.0 + mx.abs(x))


@softsign.vjp
def softsign_vjp(primals, cotangent, output):
    x = primals  # single input: MLX hands the array itself
    return cotangent / mx.square(1.0 + mx.abs(x))


class GlassNet(nn.Module):
    def __init__(self, d_in=9, h=48, k=5):
        super().__init__()
        self.l1 = nn.Linear(d_in, h)
        self.l2 = nn.Linear(h, h)
        self.head = nn.Linear(h, k)

    def __call__(self, x):
        return self.head(softsign(self.l2(softsign(self.l1(x)))))


def nll(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def audit_vjp():
    x = mx.random.normal((257,)) * 3.0
    g_custom = mx.grad(lambda t: softsign(t).sum())(x)
    g_ref = mx.grad(lambda t: (t / (1.0 + mx.abs(t))).sum())(x)
    diff = mx.max(mx.abs(g_custom - g_ref)).item()
    log.info("vjp audit: max|custom - autodiff| = %.3e over %d points", diff, x.size)
    return diff


def run_fold(fold, Xtr, ytr, Xva, yva, max_epochs=30, batch=64, patience=5):
    mx.random.seed(100 + fold)
    model = GlassNet()
    mx.eval(model.parameters())
    warm = 25
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 0.08, warm), optim.cosine_decay(0.08, 700, 0.004)],
        [warm])
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
    lg = nn.value_and_grad(model, nll)

    if fold == 0:
        _, g = lg(model, Xtr[:256], ytr[:256])
        dead = [k for k, v in tree_flatten(g) if mx.all(v == 0).item()]
        log.info("grad audit: %d tensors, all-zero: %s", len(tree_flatten(g)), dead or "none")

    best = (math.inf, 0, None)
    bad = 0
    step = 0
    n = Xtr.shape[0]
    for epoch in range(1, max_epochs + 1):
        perm = mx.array(rng.permutation(n))
        run = 0.0
        nb = n // batch
        for b in range(nb):
            idx = perm[b * batch:(b + 1) * batch]
            loss, grads = lg(model, Xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(loss, model.parameters(), opt.state)
            run += loss.item()
            step += 1
        logits = model(Xva)
        v_nll = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
        v_acc = 100.0 * mx.mean(mx.argmax(logits, axis=1) == yva).item()
        if v_nll < best[0] - 1e-4:
            best = (v_nll, epoch, tree_map(lambda p: mx.array(p), model.parameters()), v_acc)
            bad = 0
        else:
            bad += 1
        if epoch % 3 == 1 or bad == patience:
            log.info("fold %d ep %02d step %4d lr %.4f | train_nll %.4f val_nll %.4f val_acc %5.1f%%",
                     fold, epoch, step, opt.learning_rate.item(), run / nb, v_nll, v_acc)
        if bad == patience:
            log.info("fold %d early stop at ep %d; restoring ep %d (val_nll %.4f)",
                     fold, epoch, best[1], best[0])
            break
    model.update(best[2])
    mx.eval(model.parameters())
    logits = model(Xva)
    r_nll = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
    r_acc = 100.0 * mx.mean(mx.argmax(logits, axis=1) == yva).item()
    return {"fold": fold, "best_ep": best[1], "val_nll": r_nll, "val_acc": r_acc, "steps": step}


def main():
    X, y = make_sheets(3000)
    if audit_vjp() > 1e-5:
        log.error("custom VJP disagrees with autodiff")
        sys.exit(1)
    folds = np.array_split(rng.permutation(len(y)), 4)
    rows = []
    for f in range(4):
        va = folds[f]
        tr = np.concatenate([folds[j] for j in range(4) if j != f])
        mu, sd = X[tr].mean(0), X[tr].std(0)
        Xtr, Xva = mx.array((X[tr] - mu) / sd), mx.array((X[va] - mu) / sd)
        ytr, yva = mx.array(y[tr]), mx.array(y[va])
        rows.append(run_fold(f, Xtr, ytr, Xva, yva))
    log.info("fold | best_ep | steps | val_nll | val_acc")
    for r in rows:
        log.info("  %d  |   %2d    | %5d | %.4f  | %5.1f%%", r["fold"], r["best_ep"], r["steps"],
                 r["val_nll"], r["val_acc"])
    accs = np.array([r["val_acc"] for r in rows])
    nlls = np.array([r["val_nll"] for r in rows])
    log.info("cv mean: val_nll %.4f (chance %.4f)  val_acc %.1f%% +- %.1f (chance 20.0%%)",
             nlls.mean(), math.log(5), accs.mean(), accs.std())


if __name__ == "__main__":
    main()
