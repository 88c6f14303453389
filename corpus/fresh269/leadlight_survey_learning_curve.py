"""Stained-glass conservation survey: how much labelled data does the panel
condition classifier need?

Four condition classes (sound / crizzled / pitted / paint-loss) from 8
synthetic survey readings. A fresh MLP is trained on nested subsets of a
shuffled labelled pool (150 ... 4800 panels), always for the same number of
optimizer steps, and every run is scored on one shared test set next to two
reference lines: the majority class and a nearest-centroid rule.
Output is CSV on stdout (one row per pool size), plus one in-run trace
for the largest pool.
"""
import csv
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

CLASSES = ["sound", "crizzled", "pitted", "paint_loss"]
SIZES = [150, 300, 600, 1200, 2400, 4800]
STEPS = 600
BATCH = 64
SEED = 11


def synth_panels(n, rng):
    age = rng.uniform(20, 700, n)              # years since glazing
    rh = rng.uniform(35, 95, n)                # mean relative humidity %
    south = rng.integers(0, 2, n)              # sun-facing
    thick = rng.normal(3.2, 0.6, n)            # mm
    k2o = rng.normal(14, 5, n)                 # potash content %
    came = rng.gamma(2.0, 1.0, n)              # lead came corrosion score
    haze = rng.normal(0, 1, n)
    ph = rng.normal(7.0, 0.6, n)
    z = np.stack([
        np.zeros(n),
        0.004 * age + 0.03 * (rh - 60) + 0.12 * (k2o - 14) - 0.6,
        0.003 * age + 0.5 * came - 0.8 * (ph - 7) - 1.2,
        0.9 * south + 0.002 * age - 0.5 * (thick - 3.2) - 1.0,
    ], axis=1)
    z += rng.gumbel(size=z.shape) * 0.35
    y = np.argmax(z, axis=1)
    haze = haze + 0.8 * (y == 1) + 0.3 * (y == 2)
    x = np.stack([np.log(age), rh, south, thick, k2o, came, haze, ph], axis=1)
    return x.astype(np.float32), y.astype(np.int32)


class PanelNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.head = nn.Linear(64, len(CLASSES))

    def __call__(self, x):
        return self.head(self.body(x))


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def score(model, x, y):
    logits = model(x)
    loss = nn.losses.cross_entropy(logits, y, reduction="mean")
    acc = mx.mean(mx.argmax(logits, axis=1) == y)
    mx.eval(loss, acc)
    return loss.item(), acc.item()


def run(xp, yp, xte, yte, trace=None):
    mx.random.seed(SEED)                       # same init for every pool size
    model = PanelNet()
    mx.eval(model.parameters())
    warm = optim.linear_schedule(0.0, 2e-3, 60)            # lr is exactly 0 on step 0
    sched = optim.join_schedules([warm, optim.cosine_decay(2e-3, STEPS - 60, 1e-4)], [60])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
    step_fn = nn.value_and_grad(model, xent)
    rng = np.random.default_rng(SEED)
    n = xp.shape[0]
    for step in range(1, STEPS + 1):
        idx = mx.array(rng.integers(0, n, size=min(BATCH, n)))
        loss, grads = step_fn(model, xp[idx], yp[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if trace is not None and step % 150 == 0:
            tl, ta = score(model, xte, yte)
            trace.append((step, loss.item(), tl, ta))
    return model


def main():
    t0 = time.time()
    rng = np.random.default_rng(SEED)
    xpool, ypool = synth_panels(max(SIZES), rng)
    xte_np, yte_np = synth_panels(3000, rng)
    mu, sd = xpool.mean(0), xpool.std(0) + 1e-6
    xpool = (xpool - mu) / sd
    xte_np = (xte_np - mu) / sd
    xte, yte = mx.array(xte_np), mx.array(yte_np)

    majority = np.bincount(ypool, minlength=4).argmax()
    maj_acc = float((yte_np == majority).mean())

    w = csv.writer(sys.stdout, lineterminator="\n")
    print(f"# classes: {', '.join(CLASSES)} | test panels: {len(yte_np)} | steps per run: {STEPS}")
    print(f"# majority-class test accuracy: {maj_acc:.3f}")
    w.writerow(["pool", "epochs_seen", "train_loss", "train_acc", "test_loss", "test_acc",
                "centroid_acc", "gap", "secs"])

    trace = []
    rows = []
    for n in SIZES:
        t = time.time()
        xp_np, yp_np = xpool[:n], ypool[:n]             # nested subsets
        cents = np.stack([xp_np[yp_np == c].mean(0) for c in range(4)])
        cen_pred = np.argmin(((xte_np[:, None, :] - cents[None]) ** 2).sum(-1), axis=1)
        cen_acc = float((cen_pred == yte_np).mean())
        xp, yp = mx.array(xp_np), mx.array(yp_np)
        model = run(xp, yp, xte, yte, trace if n == SIZES[-1] else None)
        tr_loss, tr_acc = score(model, xp, yp)
        te_loss, te_acc = score(model, xte, yte)
        rows.append((n, te_acc))
        w.writerow([n, f"{STEPS * BATCH / n:.1f}", f"{tr_loss:.4f}", f"{tr_acc:.3f}", f"{te_loss:.4f}",
                    f"{te_acc:.3f}", f"{cen_acc:.3f}", f"{tr_acc - te_acc:+.3f}", f"{time.time() - t:.1f}"])
        sys.stdout.flush()

    print(f"# in-run trace for pool={SIZES[-1]} (step, batch loss, test loss, test acc)")
    for s, bl, tl, ta in trace:
        print(f"#   {s:4d}  {bl:.4f}  {tl:.4f}  {ta:.3f}")
    ns = np.array([r[0] for r in rows], dtype=float)
    err = 1.0 - np.array([r[1] for r in rows])
    slope = np.polyfit(np.log(ns), np.log(err), 1)[0]
    print(f"# log-log slope of test error vs pool size: {slope:.3f}")
    print(f"# total {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
