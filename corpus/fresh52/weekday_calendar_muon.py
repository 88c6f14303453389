"""Learn the day of the week from a Gregorian date.

Inputs: one-hot day-of-month (31), one-hot month (12), one-hot year mod 28 (28)
plus a leap-year flag -> 72 features. Label: weekday (Mon..Sun).
Hidden weight matrices use Muon, everything else (embedding-like first layer,
biases, output layer) uses AdamW, via MultiOptimizer.
Silent while training; prints a report and one calendar month at the end.
"""
import datetime as dt
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

DAYS = ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"]


def encode(d):
    f = np.zeros(72, np.float32)
    f[d.day - 1] = 1
    f[31 + d.month - 1] = 1
    f[43 + (d.year % 28)] = 1
    f[71] = float(d.year % 4 == 0 and (d.year % 100 != 0 or d.year % 400 == 0))
    return f


class WeekdayNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(72, 128)
        self.hidden = [nn.Linear(128, 128), nn.Linear(128, 128)]
        self.out = nn.Linear(128, 7)

    def __call__(self, x):
        h = nn.relu(self.inp(x))
        for layer in self.hidden:
            h = h + nn.relu(layer(h))
        return self.out(h)


def main():
    mx.random.seed(11)
    rng = np.random.default_rng(11)
    start = dt.date(1901, 3, 1)  # 1901-2099: the 28-year cycle is exact
    dates = [start + dt.timedelta(days=i) for i in range((dt.date(2099, 12, 31) - start).days)]
    rng.shuffle(dates)
    held = {d for d in dates if d.year in (1977, 2024)}
    train = [d for d in dates if d not in held]
    X = mx.array(np.stack([encode(d) for d in train]))
    Y = mx.array(np.array([d.weekday() for d in train], np.int32))
    Xh = mx.array(np.stack([encode(d) for d in sorted(held)]))
    Yh = mx.array(np.array([d.weekday() for d in sorted(held)], np.int32))

    model = WeekdayNet()
    mx.eval(model.parameters())

    def loss_fn(m, x, y):
        return nn.losses.cross_entropy(m(x), y, reduction="mean")

    vg = nn.value_and_grad(model, loss_fn)

    # first-step gradient audit (kept quiet unless something is wrong)
    _, g0 = vg(model, X[:512], Y[:512])
    leaves = tree_flatten(g0)
    dead = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
    if dead:
        sys.exit(f"zero-gradient leaves at step 1: {dead}")

    steps_per_epoch = X.shape[0] // 512
    epochs = 5
    adamw = optim.AdamW(learning_rate=optim.cosine_decay(2e-3, steps_per_epoch * epochs, 1e-4), weight_decay=1e-4)
    muon = optim.Muon(learning_rate=0.02, momentum=0.95)
    opt = optim.MultiOptimizer([muon, adamw], [lambda path, w: path.startswith("hidden") and w.ndim == 2])

    t0 = time.time()
    first_loss = None
    ep_losses = []
    for epoch in range(epochs):
        perm = mx.array(rng.permutation(X.shape[0]))
        acc = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * 512:(b + 1) * 512]
            loss, grads = vg(model, X[idx], Y[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            if first_loss is None:
                first_loss = loss.item()
            acc += loss.item()
        ep_losses.append(acc / steps_per_epoch)

    pred_h = mx.argmax(model(Xh), axis=-1)
    held_acc = (pred_h == Yh).mean().item()
    print(f"weekday-from-date  |  {len(train)} training dates, {len(held)} held-out dates (years 1977, 2024)")
    print(f"params: {sum(v.size for _, v in tree_flatten(model.parameters()))}, "
          f"{len(leaves)} gradient leaves, all non-zero at step 1")
    print(f"cross-entropy: first batch {first_loss:.3f} (chance {np.log(7):.3f}), "
          f"epoch means " + ", ".join(f"{v:.3f}" for v in ep_losses))
    print(f"held-out weekday accuracy: {held_acc:.4f} (chance {1/7:.4f}); {time.time() - t0:.1f}s")

    # calendar for a held-out month, the model's own weekday for every day
    month = [dt.date(2024, 2, d) for d in range(1, 30)]
    pm = np.array(mx.argmax(model(mx.array(np.stack([encode(d) for d in month]))), axis=-1))
    print("\n      February 2024 (as predicted)")
    print("  " + "   ".join(DAYS))
    row = ["    "] * pm[0]
    for d, p in zip(month, pm):
        mark = " " if p == d.weekday() else "!"
        row.append(f"{d.day:>2}{mark} ")
        if p == 6 or len(row) == 7:
            print(" " + "".join(row))
            row = []
    if row:
        print(" " + "".join(row))


if __name__ == "__main__":
    main()
