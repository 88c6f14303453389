"""Vanilla curing shed: grade of cured beans (gourmet / A / B / split) from
eight shed readings.  Training grades come from seasonal sorters and 35% of
them are re-drawn at random on purpose; the test grades are the panel's.
The net uses a dropout rate ramped 0 -> 0.4 over training and label
smoothing 0.1."""

import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(5)
mx.random.seed(5)

GRADES = ["gourmet", "A", "B", "split"]
N_TRAIN, N_TEST, FLIP = 8000, 2000, 0.35
W = rng.normal(0, 1, (8, 4))


def make_lots(n):
    x = rng.normal(0, 1, (n, 8)).astype(np.float32)
    # vanillin, moisture, length, diameter, sweating days, gloss, mould, aroma
    score = x @ W + 0.9 * np.tanh(x[:, [0]] * x[:, [4]]) * np.array([1.0, 0.3, -0.4, -0.9])
    score = score + np.array([0.1, 0.4, 0.3, -0.2])
    return x, score.argmax(1).astype(np.int32)


xtr, ytr_true = make_lots(N_TRAIN)
xte, yte = make_lots(N_TEST)
redraw = rng.random(N_TRAIN) < FLIP
ytr = np.where(redraw, rng.integers(0, 4, N_TRAIN), ytr_true).astype(np.int32)
agree = float((ytr == ytr_true).mean())
ceiling = (1 - FLIP) + FLIP / 4

Xtr, Ytr = mx.array(xtr), mx.array(ytr)
Xte, Yte = mx.array(xte), mx.array(yte)


class RampDrop(nn.Module):
    def __init__(self):
        super().__init__()
        self.rate = 0.0

    def __call__(self, x):
        if not self.training or self.rate == 0.0:
            return x
        keep = mx.random.bernoulli(1.0 - self.rate, x.shape)
        return mx.where(keep, x / (1.0 - self.rate), 0.0)


class Grader(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 128)
        self.d1 = RampDrop()
        self.l2 = nn.Linear(128, 128)
        self.d2 = RampDrop()
        self.head = nn.Linear(128, 4)

    def set_rate(self, r):
        self.d1.rate = r
        self.d2.rate = r

    def __call__(self, x):
        h = self.d1(nn.relu(self.l1(x)))
        h = self.d2(nn.relu(self.l2(h)))
        return self.head(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, label_smoothing=0.1, reduction="mean")


EPOCHS, BATCH = 20, 100
steps_per_epoch = N_TRAIN // BATCH
model = Grader()
opt = optim.SGD(learning_rate=optim.step_decay(0.05, 0.5, 6 * steps_per_epoch),
                momentum=0.9, nesterov=True)
grad_fn = nn.value_and_grad(model, loss_fn)


def accuracy(x, y):
    model.eval()
    acc = mx.mean(mx.argmax(model(x), axis=1) == y).item()
    model.train()
    return acc


majority = float(np.bincount(yte, minlength=4).max() / N_TEST)
print(f"lots: train {N_TRAIN} (sorter grades, {100 * (1 - agree):.1f}% differ from the panel law), "
      f"test {N_TEST} (panel grades)")
print(f"grade shares test: " + ", ".join(f"{g} {100 * c / N_TEST:.1f}%"
      for g, c in zip(GRADES, np.bincount(yte, minlength=4))))
print(f"reference: majority grade {100 * majority:.1f}% | "
      f"best possible fit to sorter grades ~{100 * ceiling:.1f}%")
print(f"ep 00 drop 0.00 | untrained | clean test {100 * accuracy(Xte, Yte):5.1f}%")

t0 = time.perf_counter()
for ep in range(1, EPOCHS + 1):
    rate = 0.4 * min(1.0, (ep - 1) / 10)
    model.set_rate(rate)
    perm = rng.permutation(N_TRAIN)
    tot, nb = 0.0, 0
    for i in range(steps_per_epoch):
        idx = mx.array(perm[i * BATCH:(i + 1) * BATCH])
        loss, grads = grad_fn(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    fit_noisy = accuracy(Xtr, Ytr)
    fit_true = accuracy(Xtr, mx.array(ytr_true))
    test = accuracy(Xte, Yte)
    bar = "#" * int(round(test * 20)) + "." * (20 - int(round(test * 20)))
    print(f"ep {ep:02d} drop {rate:.2f} | loss {tot / nb:.3f} | "
          f"fit(sorter) {100 * fit_noisy:5.1f}% | fit(true) {100 * fit_true:5.1f}% | "
          f"clean test {100 * test:5.1f}% {bar} | lr {opt.learning_rate.item():.4f} | "
          f"{time.perf_counter() - t0:.1f}s")

model.eval()
pred = np.array(mx.argmax(model(Xte), axis=1))
print("per-grade recall on panel grades:")
for g in range(4):
    m = yte == g
    print(f"  {GRADES[g]:>8}: {100 * (pred[m] == g).mean():5.1f}%  (n={m.sum()})")
print(f"final clean test {100 * (pred == yte).mean():.1f}% vs majority {100 * majority:.1f}%")
