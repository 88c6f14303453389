"""How many days has month M of year Y?  (classes: 28, 29, 30, 31)
Year is given as four one-hot decimal digits, month as a one-hot.
An exponential learning-rate range test runs first on a throw-away model
(its loss blows up at the end on purpose); the real run then starts from
fresh weights with a learning rate picked from the sweep."""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

CLASSES = [28, 29, 30, 31]


def days_in_month(y, m):
    if m == 2:
        leap = (y % 4 == 0 and y % 100 != 0) or y % 400 == 0
        return 29 if leap else 28
    return 30 if m in (4, 6, 9, 11) else 31


def encode(years, months):
    x = np.zeros((len(years), 40 + 12), dtype=np.float32)
    for i, (y, m) in enumerate(zip(years, months)):
        for k, d in enumerate(f"{y:04d}"):
            x[i, 10 * k + int(d)] = 1.0
        x[i, 40 + m - 1] = 1.0
    return x


def make_data(rng, n, year_pool):
    ys = rng.choice(year_pool, n)
    # February over-sampled so that the leap rule is not a rounding error
    ms = np.where(rng.random(n) < 0.5, 2, rng.integers(1, 13, n))
    lab = np.array([CLASSES.index(days_in_month(y, m)) for y, m in zip(ys, ms)], np.int32)
    return encode(ys, ms), lab, ys, ms


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(52, 128)
        self.l2 = nn.Linear(128, 64)
        self.head = nn.Linear(64, 4)

    def __call__(self, x):
        return self.head(nn.relu(self.l2(nn.relu(self.l1(x)))))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy_pct(model, x, y):
    pred = mx.argmax(model(mx.array(x)), axis=1)
    return 100.0 * float(mx.mean(pred == mx.array(y)))


def lr_range_test(xtr, ytr, rng, lo=1e-4, hi=3.0, n=120, bs=64):
    mx.random.seed(100)
    probe = Net()
    opt = optim.SGD(learning_rate=lo, momentum=0.9)
    vg = nn.value_and_grad(probe, loss_fn)
    factor = (hi / lo) ** (1.0 / (n - 1))
    lrs, smooth, avg = [], [], 0.0
    for i in range(n):
        lr = lo * factor ** i
        opt.learning_rate = lr
        idx = rng.integers(0, len(ytr), bs)
        loss, g = vg(probe, mx.array(xtr[idx]), mx.array(ytr[idx]))
        opt.update(probe, g)
        mx.eval(probe.parameters(), opt.state, loss)
        v = loss.item()
        avg = 0.9 * avg + 0.1 * v
        s = avg / (1 - 0.9 ** (i + 1))            # bias-corrected smoothing
        lrs.append(lr)
        smooth.append(s if math.isfinite(s) else float("inf"))
    return np.array(lrs), np.array(smooth)


def main():
    rng = np.random.default_rng(11)
    years = np.arange(1583, 2800)
    test_years = rng.choice(years, 150, replace=False)
    train_years = np.setdiff1d(years, test_years)
    xtr, ytr, _, _ = make_data(rng, 12000, train_years)
    xte, yte, yrs_te, ms_te = make_data(rng, 3000, test_years)

    print("== learning-rate range test (throw-away model, SGD momentum 0.9) ==")
    lrs, sm = lr_range_test(xtr, ytr, rng)
    print(f"{'lr':>10} | {'smoothed CE':>11}")
    for i in range(0, len(lrs), 12):
        print(f"{lrs[i]:10.2e} | {sm[i]:11.4f}")
    print(f"{lrs[-1]:10.2e} | {sm[-1]:11.4f}   <- end of sweep")
    best = int(np.argmin(sm))
    lr = float(lrs[best] / 10.0)
    print(f"min smoothed CE {sm[best]:.4f} at lr={lrs[best]:.2e}; using peak lr={lr:.2e}\n")

    mx.random.seed(0)
    model = Net()                                  # fresh weights for the real run
    mx.eval(model.parameters())
    epochs, bs = 10, 64
    steps_per_epoch = len(ytr) // bs
    sched = optim.cosine_decay(lr, epochs * steps_per_epoch, lr * 0.01)
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
    vg = nn.value_and_grad(model, loss_fn)

    _, g0 = vg(model, mx.array(xtr[:bs]), mx.array(ytr[:bs]))
    nz = sum(float(mx.abs(v).max()) > 0 for _, v in tree_flatten(g0))
    print(f"gradient check: {nz}/{len(tree_flatten(g0))} leaves non-zero at step 1")

    state = [model.state, opt.state]

    step = mx.compile(lambda x, y: _step(model, opt, vg, x, y), inputs=state, outputs=state)

    print(f"{'epoch':>5} {'train CE':>9} {'train acc':>10} {'test acc':>9} {'Feb test acc':>13} {'lr':>9}")
    t0 = time.time()
    feb = ms_te == 2
    for ep in range(1, epochs + 1):
        perm = rng.permutation(len(ytr))
        tot = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * bs:(b + 1) * bs]
            loss = step(mx.array(xtr[idx]), mx.array(ytr[idx]))
            mx.eval(state, loss)
            tot += loss.item()
        tr_acc = accuracy_pct(model, xtr, ytr)
        te_acc = accuracy_pct(model, xte, yte)
        feb_acc = accuracy_pct(model, xte[feb], yte[feb])
        print(f"{ep:5d} {tot / steps_per_epoch:9.4f} {tr_acc:9.2f}% {te_acc:8.2f}% "
              f"{feb_acc:12.2f}% {float(opt.learning_rate):9.2e}")
    print(f"finished in {time.time() - t0:.1f}s; held-out years never seen in training")


def _step(model, opt, vg, x, y):
    loss, g = vg(model, x, y)
    opt.update(model, g)
    return loss


if __name__ == "__main__":
    main()
