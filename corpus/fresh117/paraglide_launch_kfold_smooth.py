"""Paragliding launch call (0 = stay on the ground, 1 = soarable, 2 = blown out)
from nine morning weather readings. 5-fold cross-validation: every fold is a
fresh model trained from scratch with Adagrad on label-smoothed cross-entropy.
Training is silent; one summary table is printed at the end.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

CLASSES = ["stay", "soarable", "blown-out"]
SMOOTH = 0.1


def make_days(n, rng):
    wind = rng.gamma(2.0, 4.0, n)               # km/h at launch
    gust = wind + rng.gamma(1.5, 3.0, n)        # gust km/h
    cloudbase = rng.normal(1800, 500, n)        # m
    lapse = rng.normal(0.7, 0.25, n)            # deg C / 100 m
    cover = rng.uniform(0, 1, n)                # cloud cover fraction
    dir_off = rng.uniform(0, 180, n)            # deg off the slope axis
    rain = (rng.random(n) < 0.15).astype(np.float64)
    temp = rng.normal(18, 6, n)
    foehn = (rng.random(n) < 0.08).astype(np.float64)
    s_soar = (2.2 * (lapse - 0.6) + 0.0015 * (cloudbase - 1400) - 1.6 * cover
              - 0.02 * dir_off + 0.05 * (temp - 15) - 2.5 * rain + 0.8)
    s_blow = 0.22 * (gust - 25) + 0.12 * (wind - 18) + 2.0 * foehn
    logits = np.stack([np.zeros(n), s_soar, s_blow], 1)
    logits = logits + rng.gumbel(0, 0.6, logits.shape)
    y = logits.argmax(1)
    X = np.stack([wind, gust, cloudbase, lapse, cover,
                  np.cos(np.radians(dir_off)), rain, temp, foehn], 1)
    return X.astype(np.float32), y.astype(np.int32)


class LaunchNet(nn.Module):
    def __init__(self, d_in=9, hidden=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, len(CLASSES))

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, label_smoothing=SMOOTH,
                                   reduction="mean")


def scores(model, x, y):
    logits = model(x)
    pred = np.array(mx.argmax(logits, axis=1))
    yt = np.array(y)
    acc = (pred == yt).mean()
    recalls = [(pred[yt == c] == c).mean() if (yt == c).any() else float("nan")
               for c in range(len(CLASSES))]
    plain_ce = nn.losses.cross_entropy(logits, y, reduction="mean").item()
    return acc, recalls, plain_ce


def train_fold(x_tr, y_tr, seed, epochs=25, batch=64, lr=0.05):
    mx.random.seed(seed)
    rng = np.random.default_rng(seed)
    model = LaunchNet()
    mx.eval(model.parameters())
    opt = optim.Adagrad(learning_rate=lr)
    step = nn.value_and_grad(model, loss_fn)
    n = x_tr.shape[0]
    history = []
    first = None
    for epoch in range(epochs):
        order = rng.permutation(n)
        run, cnt = 0.0, 0
        for s in range(0, n - batch + 1, batch):
            idx = mx.array(order[s:s + batch])
            loss, grads = step(model, x_tr[idx], y_tr[idx])
            if first is None:
                first = sum(1 for _, g in tree_flatten(grads)
                            if float(mx.abs(g).max()) == 0.0)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            cnt += 1
        history.append(run / cnt)
    return model, history, first


def main():
    t0 = time.time()
    rng = np.random.default_rng(2024)
    X, y = make_days(6000, rng)
    k = 5
    folds = np.array_split(rng.permutation(len(y)), k)
    shares = np.bincount(y, minlength=3) / len(y)
    # floor of the smoothed loss for a perfect, fully confident-as-allowed model
    floor = -(1 - SMOOTH + SMOOTH / 3) * math.log(1 - SMOOTH + SMOOTH / 3) \
        - 2 * (SMOOTH / 3) * math.log(SMOOTH / 3)
    rows = []
    for f in range(k):
        va = folds[f]
        tr = np.concatenate([folds[j] for j in range(k) if j != f])
        mu, sd = X[tr].mean(0), X[tr].std(0) + 1e-6
        x_tr, y_tr = mx.array((X[tr] - mu) / sd), mx.array(y[tr])
        x_va, y_va = mx.array((X[va] - mu) / sd), mx.array(y[va])
        model, hist, zero_leaves = train_fold(x_tr, y_tr, seed=100 + f)
        acc, rec, ce = scores(model, x_va, y_va)
        rows.append((f, hist[0], hist[-1], ce, acc, rec, zero_leaves))

    print("paraglide launch call - 5-fold CV (6000 days, classes "
          + ", ".join(f"{c} {100 * s:.1f}%" for c, s in zip(CLASSES, shares)) + ")")
    print(f"label smoothing {SMOOTH}: smoothed-loss floor {floor:.3f} nats, "
          f"majority-class accuracy {100 * shares.max():.1f}%")
    print()
    print("fold | zero-grad leaves @step1 | smoothed loss ep1 -> ep25 | val CE | "
          "val acc | recall stay / soar / blown")
    for f, h0, h1, ce, acc, rec, z in rows:
        print(f"  {f}  | {z:^23d} | {h0:>10.3f} -> {h1:<10.3f} | {ce:.3f}  | "
              f"{100 * acc:5.1f}%  | {100 * rec[0]:5.1f}% / {100 * rec[1]:5.1f}% / "
              f"{100 * rec[2]:5.1f}%")
    accs = np.array([r[4] for r in rows])
    print()
    print(f"mean val accuracy {100 * accs.mean():.1f}% (sd {100 * accs.std():.1f} points) "
          f"in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
