"""Basement radon screening: predict long-term radon (Bq/m^3) from a short
house survey, with 4-fold cross-validation, linear warm-up from lr=0 and
early stopping that restores the best weights of each fold."""
import logging
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s radon: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("radon")

FOUNDATIONS = ["slab", "crawlspace", "full_basement", "stone_cellar"]


def make_houses(n, seed=7):
    rng = random.Random(seed)
    rows, target = [], []
    for _ in range(n):
        uranium = rng.uniform(0.5, 6.0)          # ppm in local soil
        perm = rng.uniform(0.0, 1.0)              # soil permeability index
        fnd = rng.randrange(4)
        vent = rng.uniform(0.1, 1.5)              # air changes per hour
        winter = 1.0 if rng.random() < 0.5 else 0.0
        floor = rng.choice([0, 0, 1, 2])          # floor of the detector
        sealed = 1.0 if rng.random() < 0.3 else 0.0
        log_rn = (2.6 + 0.28 * uranium + 0.9 * perm + [0.0, 0.35, 0.8, 1.1][fnd]
                  - 0.55 * math.log(vent) + 0.25 * winter - 0.45 * floor - 0.5 * sealed
                  + rng.gauss(0.0, 0.18))
        onehot = [1.0 if i == fnd else 0.0 for i in range(4)]
        rows.append([uranium / 6.0, perm, *onehot, math.log(vent), winter, floor / 2.0, sealed])
        target.append(log_rn)
    return mx.array(rows), mx.array(target)


class RadonNet(nn.Module):
    def __init__(self, d_in, hidden=32):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def bq(log_vals):
    return mx.exp(log_vals)


def mae_bq(model, x, y):
    return mx.mean(mx.abs(bq(model(x)) - bq(y))).item()


def run_fold(fold, xtr, ytr, xva, yva, epochs=120, batch=32, patience=15):
    mx.random.seed(100 + fold)
    model = RadonNet(xtr.shape[1])
    mx.eval(model.parameters())
    steps_per_epoch = math.ceil(xtr.shape[0] / batch)
    warm = optim.linear_schedule(0.0, 3e-3, 10 * steps_per_epoch)
    decay = optim.cosine_decay(3e-3, (epochs - 10) * steps_per_epoch, 1e-4)
    sched = optim.join_schedules([warm, decay], [10 * steps_per_epoch])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)

    def loss_fn(m, xb, yb):
        return nn.losses.huber_loss(m(xb), yb, delta=0.5, reduction="mean")

    step = nn.value_and_grad(model, loss_fn)
    base_mae = mx.mean(mx.abs(bq(mx.mean(ytr)) - bq(yva))).item()
    best, best_ep, best_w, wait = float("inf"), -1, None, 0
    checked_grads = False
    for ep in range(epochs):
        perm = mx.random.permutation(xtr.shape[0])
        tot = 0.0
        for s in range(steps_per_epoch):
            idx = perm[s * batch:(s + 1) * batch]
            loss, grads = step(model, xtr[idx], ytr[idx])
            if not checked_grads:
                zero = [k for k, g in tree_flatten(grads) if mx.abs(g).sum().item() == 0.0]
                log.info("fold %d grad audit: %d tensors, zero-grad tensors: %s", fold,
                         len(tree_flatten(grads)), zero or "none")
                checked_grads = True
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        val_mae = mae_bq(model, xva, yva)
        if val_mae < best - 0.05:
            best, best_ep, wait = val_mae, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
        else:
            wait += 1
        if ep % 20 == 0 or wait == patience:
            lr = opt.learning_rate.item()
            log.info("fold %d ep %3d lr %.2e huber %.4f val MAE %7.1f Bq/m3 (mean-guess %7.1f, %5.1f%%)",
                     fold, ep, lr, tot / steps_per_epoch, val_mae, base_mae, 100.0 * val_mae / base_mae)
        if wait == patience:
            log.info("fold %d early stop at ep %d, best ep %d", fold, ep, best_ep)
            break
    model.update(best_w)
    mx.eval(model.parameters())
    restored = mae_bq(model, xva, yva)
    log.info("fold %d restored weights from ep %d: val MAE %.1f Bq/m3 (delta vs best %.2e)",
             fold, best_ep, restored, abs(restored - best))
    return restored, base_mae


def main():
    x, y = make_houses(480)
    k = 4
    n = x.shape[0] // k
    results = []
    for fold in range(k):
        va = mx.arange(fold * n, (fold + 1) * n)
        tr = mx.concatenate([mx.arange(0, fold * n), mx.arange((fold + 1) * n, x.shape[0])])
        results.append(run_fold(fold, x[tr], y[tr], x[va], y[va]))
    print("\nfold | model MAE | mean-guess MAE | ratio")
    print("-----+-----------+----------------+------")
    for i, (m, b) in enumerate(results):
        print(f"  {i}  | {m:9.1f} | {b:14.1f} | {m / b:.3f}")
    avg = sum(m for m, _ in results) / k
    avgb = sum(b for _, b in results) / k
    print(f" avg | {avg:9.1f} | {avgb:14.1f} | {avg / avgb:.3f}")


if __name__ == "__main__":
    main()
