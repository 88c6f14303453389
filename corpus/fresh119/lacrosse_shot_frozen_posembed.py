"""Lacrosse shot outcome (goal / saved / wide) from tracking features.

The shooter's field position (one of 9 zones) is looked up in a FIXED
embedding table shared with the club's other models, so it is frozen here;
only the MLP on top trains.  Hand-written SGD with Nesterov momentum over
the trainable tree, learning rate warmed up from exactly 0, and early
stopping that restores the best validation weights.  Logs are JSON lines;
'err_pct' is the validation error rate in percent (lower is better).
"""
import json
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

N_ZONES, EMB = 9, 6
CLASSES = ["goal", "saved", "wide"]


def make_shots(n, rng):
    zone = rng.integers(0, N_ZONES, n)
    dist = rng.uniform(3.0, 16.0, n)          # metres to the crease
    angle = rng.uniform(-1.2, 1.2, n)         # radians off centre
    speed = rng.normal(120.0, 12.0, n)        # km/h
    screened = rng.integers(0, 2, n).astype(np.float64)
    keeper_off = rng.uniform(0.0, 1.5, n)     # keeper offset (m)
    zone_bonus = np.array([0.6, 0.3, 0.6, 0.2, 0.0, 0.2, -0.4, -0.6, -0.4])[zone]
    s_goal = (1.2 - 0.16 * dist - 0.9 * np.abs(angle) + 0.03 * (speed - 120)
              + 0.7 * screened + 0.9 * keeper_off + zone_bonus)
    s_save = 0.4 - 0.5 * keeper_off - 0.3 * screened + 0.02 * dist
    s_wide = -0.6 + 1.1 * np.abs(angle) + 0.05 * dist - 0.2 * zone_bonus
    logits = np.stack([s_goal, s_save, s_wide], 1) + rng.gumbel(size=(n, 3)) * 0.8
    y = logits.argmax(1)
    x = np.stack([dist, angle, speed, screened, keeper_off], 1).astype(np.float32)
    return x, zone.astype(np.int32), y.astype(np.int32)


class ShotNet(nn.Module):
    def __init__(self, d_num, hidden=64):
        super().__init__()
        self.zone_table = nn.Embedding(N_ZONES, EMB)
        self.l1 = nn.Linear(d_num + EMB, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, len(CLASSES))

    def __call__(self, x, zone):
        h = mx.concatenate([x, self.zone_table(zone)], axis=1)
        h = nn.gelu(self.l1(h))
        h = nn.gelu(self.l2(h))
        return self.out(h)


def ce_loss(model, x, z, y):
    return nn.losses.cross_entropy(model(x, z), y, reduction="mean")


def evaluate(model, x, z, y, bs=500):
    tot, wrong = 0.0, 0
    for i in range(0, len(y), bs):
        xb, zb, yb = mx.array(x[i:i + bs]), mx.array(z[i:i + bs]), mx.array(y[i:i + bs])
        logits = model(xb, zb)
        tot += nn.losses.cross_entropy(logits, yb, reduction="sum").item()
        wrong += (mx.argmax(logits, 1) != yb).sum().item()
    return tot / len(y), 100.0 * wrong / len(y)


def log(event, **kw):
    print(json.dumps({"event": event, **kw}), flush=True)


def main():
    t0 = time.time()
    rng = np.random.default_rng(7)
    x, z, y = make_shots(9000, rng)
    mean, sd = x[:7000].mean(0), x[:7000].std(0)
    x = (x - mean) / sd
    xtr, ztr, ytr = x[:7000], z[:7000], y[:7000]
    xva, zva, yva = x[7000:], z[7000:], y[7000:]

    mx.random.seed(7)
    model = ShotNet(x.shape[1])
    # the club's shared zone embedding: fixed, not trained here
    model.zone_table.weight = mx.array(
        np.random.default_rng(99).normal(0, 1, (N_ZONES, EMB)).astype(np.float32))
    model.zone_table.freeze()
    table_before = np.array(model.zone_table.weight)

    vg = nn.value_and_grad(model, ce_loss)
    params = model.trainable_parameters()
    velocity = tree_map(mx.zeros_like, params)
    base_lr, momentum, warm = 0.05, 0.9, 300
    bs, max_epochs, patience = 100, 40, 5

    _, g0 = vg(model, mx.array(xtr[:bs]), mx.array(ztr[:bs]), mx.array(ytr[:bs]))
    log("grad_check", leaves={k: round(mx.max(mx.abs(g)).item(), 6) for k, g in tree_flatten(g0)})
    va_loss, va_err = evaluate(model, xva, zva, yva)
    counts = np.bincount(ytr, minlength=3) / len(ytr)
    log("start", n_train=len(ytr), n_valid=len(yva), class_share=[round(c, 3) for c in counts],
        val_ce=round(va_loss, 4), err_pct=round(va_err, 2))

    best, best_loss, best_epoch, bad = None, float("inf"), 0, 0
    step = 0
    for epoch in range(1, max_epochs + 1):
        order = rng.permutation(len(ytr))
        run, nb = 0.0, 0
        for i in range(0, len(order) - bs + 1, bs):
            idx = order[i:i + bs]
            lr = base_lr * min(1.0, step / warm)          # 0 at the very first update
            loss, grads = vg(model, mx.array(xtr[idx]), mx.array(ztr[idx]), mx.array(ytr[idx]))
            velocity = tree_map(lambda v, g: momentum * v + g, velocity, grads)
            params = tree_map(lambda p, v, g: p - lr * (g + momentum * v),
                              model.trainable_parameters(), velocity, grads)
            model.update(params)
            mx.eval(model.parameters(), velocity, loss)
            run += loss.item()
            nb += 1
            step += 1
        va_loss, va_err = evaluate(model, xva, zva, yva)
        improved = va_loss < best_loss - 1e-4
        if improved:
            best, best_loss, best_epoch, bad = model.trainable_parameters(), va_loss, epoch, 0
        else:
            bad += 1
        log("epoch", epoch=epoch, step=step, lr=round(lr, 5), train_ce=round(run / nb, 4),
            val_ce=round(va_loss, 4), err_pct=round(va_err, 2), best=improved)
        if bad >= patience:
            log("early_stop", epoch=epoch, best_epoch=best_epoch)
            break

    model.update(best)
    va_loss, va_err = evaluate(model, xva, zva, yva)
    drift = float(np.abs(np.array(model.zone_table.weight) - table_before).max())
    log("done", restored_epoch=best_epoch, val_ce=round(va_loss, 4), err_pct=round(va_err, 2),
        zone_table_max_change=drift, seconds=round(time.time() - t0, 1))


if __name__ == "__main__":
    main()
