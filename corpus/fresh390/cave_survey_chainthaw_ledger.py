"""Cave survey: passage-type tagging from synthetic 24-point wall-distance rings.

A survey club re-uses a net pretrained on an older rig (5 shape families) for a
new 4-way tag set (phreatic tube / vadose canyon / breakdown chamber / crawl) with
only 320 labelled rings.  Fine-tuning follows the chain-thaw recipe: the new head
alone, then each body layer alone (bottom to top, everything else frozen), then
the whole net.  Per-epoch numbers go into an in-memory sqlite ledger and are only
summarised when a stage ends.
"""
import math
import sqlite3
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
mx.random.seed(7)
N_PTS = 24


def rings(n, n_cls, shift):
    ang = np.linspace(0, 2 * math.pi, N_PTS, endpoint=False)
    y = rng.integers(0, n_cls, n)
    X = np.zeros((n, N_PTS), np.float32)
    for i, c in enumerate(y):
        base = 1.0 + 0.3 * rng.standard_normal()
        if c == 0:
            r = base + 0.05 * np.cos(2 * ang)
        elif c == 1:
            r = base * (0.5 + 1.2 * np.abs(np.sin(ang)))
        elif c == 2:
            r = base * (1.4 + 0.35 * np.sign(np.sin(5 * ang + rng.uniform(0, 6))))
        elif c == 3:
            r = base * (0.8 + 0.6 * np.abs(np.cos(ang)) ** 3)
        else:
            r = base * (1.0 + 0.4 * np.sin(3 * ang))
        r = r + shift * np.sin(ang + 1.0) + 0.12 * rng.standard_normal(N_PTS)
        X[i] = np.roll(r, rng.integers(0, N_PTS))
    X = np.sort(X, axis=1)[:, ::-1].copy() * 0.5 + X * 0.5
    return X.astype(np.float32), y.astype(np.int32)


class Body(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_PTS, 64)
        self.l2 = nn.Linear(64, 64)
        self.l3 = nn.Linear(64, 32)

    def __call__(self, x):
        return nn.gelu(self.l3(nn.gelu(self.l2(nn.gelu(self.l1(x))))))


class Tagger(nn.Module):
    def __init__(self, n_out):
        super().__init__()
        self.body = Body()
        self.head = nn.Linear(32, n_out)

    def __call__(self, x):
        return self.head(self.body(x))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, X, y):
    logits = model(X)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    acc = mx.mean(mx.argmax(logits, axis=1) == y)
    return ce.item(), acc.item()


def snapshot(module):
    return {k: np.array(v) for k, v in tree_flatten(module.parameters())}


def drift(before, module):
    now = snapshot(module)
    return max(float(np.max(np.abs(now[k] - before[k]))) for k in before) if before else 0.0


def run_epochs(model, opt, X, y, epochs, bs, ledger, stage, Xv, yv, frozen_ref):
    lg = nn.value_and_grad(model, loss_fn)
    n = X.shape[0]
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(n))
        tot, cnt = 0.0, 0
        for s in range(0, n, bs):
            idx = perm[s:s + bs]
            loss, g = lg(model, X[idx], y[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * idx.shape[0]
            cnt += idx.shape[0]
        vce, vacc = evaluate(model, Xv, yv)
        ledger.execute("INSERT INTO log VALUES (?,?,?,?,?,?)",
                       (stage, ep, tot / cnt, vce, 100 * vacc, drift(frozen_ref, model_frozen_view(model, stage))))


def model_frozen_view(model, stage):
    # the part that is meant to stay put during this stage
    parts = {"head": ["l1", "l2", "l3"], "l1": ["l2", "l3"], "l2": ["l1", "l3"],
             "l3": ["l1", "l2"], "all": []}[stage]
    holder = nn.Module()
    for p in parts:
        setattr(holder, p, getattr(model.body, p))
    return holder


def main():
    t0 = time.perf_counter()
    Xs, ys = rings(12000, 5, shift=0.0)
    Xt, yt = rings(320, 4, shift=0.25)
    Xv, yv = rings(2000, 4, shift=0.25)
    mu, sd = Xs.mean(0), Xs.std(0) + 1e-6
    Xs, Xt, Xv = [(a - mu) / sd for a in (Xs, Xt, Xv)]
    Xs, ys, Xt, yt, Xv, yv = map(mx.array, (Xs, ys, Xt, yt, Xv, yv))
    maj = float(np.bincount(np.array(yv)).max() / yv.shape[0])
    print(f"rings: source {Xs.shape[0]} (5 families), target train {Xt.shape[0]}, "
          f"target valid {Xv.shape[0]} (4 tags); majority-tag accuracy {100*maj:.1f}%")

    ledger = sqlite3.connect(":memory:")
    ledger.execute("CREATE TABLE log (stage TEXT, epoch INT, train_ce REAL, "
                   "valid_ce REAL, valid_acc REAL, still_drift REAL)")

    # --- older rig: pretrain on source families (quiet) ---
    src = Tagger(5)
    opt = optim.Adam(learning_rate=2e-3)
    lg = nn.value_and_grad(src, loss_fn)
    for step in range(1, 1201):
        idx = mx.array(rng.integers(0, Xs.shape[0], 128))
        loss, g = lg(src, Xs[idx], ys[idx])
        opt.update(src, g)
        mx.eval(src.parameters(), opt.state, loss)
    sce, sacc = evaluate(src, Xs[:2000], ys[:2000])
    print(f"pretrained body on older rig: source ce {sce:.3f}, source acc {100*sacc:.1f}%")

    model = Tagger(4)
    model.body.update(src.body.parameters())
    mx.eval(model.parameters())
    vce, vacc = evaluate(model, Xv, yv)
    print(f"new head attached: valid ce {vce:.3f} (ln4 = {math.log(4):.3f}), valid acc {100*vacc:.1f}%")

    plan = [("head", 25, 5e-3), ("l1", 12, 2e-3), ("l2", 12, 2e-3), ("l3", 12, 2e-3), ("all", 20, 5e-4)]
    for stage, epochs, lr in plan:
        model.freeze()
        if stage == "head":
            model.head.unfreeze()
        elif stage == "all":
            model.unfreeze()
        else:
            getattr(model.body, stage).unfreeze()
        n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
        ref = snapshot(model_frozen_view(model, stage))
        opt = optim.Adamax(learning_rate=lr)
        run_epochs(model, opt, Xt, yt, epochs, 32, ledger, stage, Xv, yv, ref)
        row = ledger.execute(
            "SELECT COUNT(*), MIN(valid_ce), MAX(valid_acc), MAX(still_drift) FROM log WHERE stage=?",
            (stage,)).fetchone()
        first, last = ledger.execute(
            "SELECT train_ce, valid_ce, valid_acc FROM log WHERE stage=? AND epoch IN (1, ?) ORDER BY epoch",
            (stage, epochs)).fetchall()
        print(f"stage {stage:<4} trainable {n_train:5d} | epochs {row[0]:2d} | "
              f"train ce {first[0]:.3f} -> {last[0]:.3f} | valid ce {first[1]:.3f} -> {last[1]:.3f} "
              f"(best {row[1]:.3f}) | valid acc {first[2]:.1f}% -> {last[2]:.1f}% | "
              f"held layers max change {row[3]:.1e}")

    print("ledger, last epoch of each stage:")
    for r in ledger.execute(
            "SELECT l.stage, l.epoch, ROUND(l.valid_ce, 4), ROUND(l.valid_acc, 1) FROM log l "
            "JOIN (SELECT stage, MAX(epoch) e FROM log GROUP BY stage) m "
            "ON l.stage = m.stage AND l.epoch = m.e ORDER BY l.rowid"):
        print("   ", r)
    vce, vacc = evaluate(model, Xv, yv)
    print(f"done in {time.perf_counter()-t0:.1f}s: valid ce {vce:.3f}, valid acc {100*vacc:.1f}% "
          f"vs majority {100*maj:.1f}%")


if __name__ == "__main__":
    main()
