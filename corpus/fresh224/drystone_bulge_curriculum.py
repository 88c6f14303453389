"""Dry-stone wall survey: will a wall section bulge / slump within one winter?

Two-stage curriculum: stage 1 only sees low, sheltered sections (easy); stage 2 adds tall
walls and frost-exposed sites, so the training loss jumps when the stage changes.
Each stage restarts its epoch counter and warms its learning rate up from exactly 0.
"""
import logging
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

logging.basicConfig(format="%(levelname)s %(name)s | %(message)s", level=logging.INFO)
log = logging.getLogger("wallsurvey")

FEATURES = ["height_m", "batter_deg", "throughs_per_m2", "hearting_frac", "stone_cm", "frost_days", "slope_deg"]


def survey(n, rng):
    h = rng.uniform(0.6, 2.0, n)
    batter = rng.uniform(4.0, 16.0, n)
    throughs = rng.uniform(0.0, 1.5, n)
    hearting = rng.uniform(0.2, 0.6, n)
    stone = rng.uniform(10.0, 40.0, n)
    frost = rng.uniform(0.0, 90.0, n)
    slope = rng.uniform(0.0, 20.0, n)
    z = (
        2.2 * (h - 1.2)
        - 0.18 * (batter - 10.0)
        - 1.6 * (throughs - 0.7)
        - 6.0 * (hearting - 0.4)
        - 0.05 * (stone - 25.0)
        + 0.035 * (frost - 40.0) * (h > 1.3)
        + 0.08 * slope
        + 1.5 * (h - 1.2) * (hearting < 0.3)
        - 0.4
    )
    p = 1.0 / (1.0 + np.exp(-z))
    y = (rng.uniform(size=n) < p).astype(np.float32)
    X = np.stack([h, batter, throughs, hearting, stone, frost, slope], axis=1).astype(np.float32)
    return X, y


class BulgeNet(nn.Module):
    def __init__(self, d_in, width=32):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        x = nn.silu(self.l1(x))
        x = nn.silu(self.l2(x))
        return self.out(x).squeeze(-1)


def bce(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y, with_logits=True, reduction="mean")


def metrics(model, X, y):
    p = mx.sigmoid(model(X))
    brier = mx.mean((p - y) ** 2).item()
    pred = p > 0.5
    tpr = (mx.sum(pred * y) / mx.maximum(mx.sum(y), 1)).item()
    tnr = (mx.sum((~pred) * (1 - y)) / mx.maximum(mx.sum(1 - y), 1)).item()
    return brier, 50.0 * (tpr + tnr)


def run_stage(name, model, Xtr, ytr, Xva, yva, epochs, peak_lr, rng, base_brier, batch=64):
    steps_per_epoch = int(np.ceil(len(Xtr) / batch))
    warm = steps_per_epoch  # one epoch of warm-up, from exactly 0
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak_lr, warm), optim.cosine_decay(peak_lr, (epochs - 1) * steps_per_epoch, 0.1 * peak_lr)],
        [warm],
    )
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
    state = [model.state, opt.state]
    loss_grad = nn.value_and_grad(model, bce)

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = loss_grad(model, x, y)
        opt.update(model, grads)
        return loss

    Xtr_m, ytr_m = mx.array(Xtr), mx.array(ytr)
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(len(Xtr)))
        tot, nb = 0.0, 0
        for i in range(0, len(Xtr), batch):
            idx = perm[i : i + batch]
            loss = step(Xtr_m[idx], ytr_m[idx])
            mx.eval(loss, model.state, opt.state)
            tot += loss.item()
            nb += 1
        brier, bacc = metrics(model, Xva, yva)
        log.info(
            "%s epoch %d/%d  train_bce=%.4f  val_brier=%.4f (climatology %.4f)  bal_acc=%.1f%%  lr=%.4f",
            name, ep, epochs, tot / nb, brier, base_brier, bacc, opt.learning_rate.item(),
        )


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    X, y = survey(6000, rng)
    Xva_np, yva_np = survey(1500, np.random.default_rng(99))
    mu, sd = X.mean(0), X.std(0)
    norm = lambda A: (A - mu) / sd
    Xva, yva = mx.array(norm(Xva_np)), mx.array(yva_np)
    base = float(yva_np.mean())
    base_brier = float(np.mean((base - yva_np) ** 2))
    log.info("survey: %d train sections, %d validation, bulge rate %.1f%%", len(X), len(Xva_np), 100 * base)

    model = BulgeNet(len(FEATURES))
    mx.eval(model.parameters())

    # audit: every parameter must receive gradient
    _, g = nn.value_and_grad(model, bce)(model, mx.array(norm(X[:256])), mx.array(y[:256]))
    from mlx.utils import tree_flatten

    for k, v in tree_flatten(g):
        log.info("grad-audit %-12s |g|=%.3e", k, mx.linalg.norm(v.reshape(-1)).item())

    easy = (X[:, 0] < 1.2) & (X[:, 5] < 35.0)
    log.info("stage A (low, sheltered walls): %d sections", int(easy.sum()))
    run_stage("A", model, norm(X[easy]), y[easy], Xva, yva, epochs=6, peak_lr=0.05, rng=rng, base_brier=base_brier)
    log.info("stage B (all walls incl. tall + frost-exposed): %d sections", len(X))
    run_stage("B", model, norm(X), y, Xva, yva, epochs=8, peak_lr=0.03, rng=rng, base_brier=base_brier)
    brier, bacc = metrics(model, Xva, yva)
    log.info("final  val_brier=%.4f vs climatology %.4f  (skill %.1f%%)  bal_acc=%.1f%%", brier, base_brier, 100 * (1 - brier / base_brier), bacc)


if __name__ == "__main__":
    main()
