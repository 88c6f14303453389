"""Sawmill: predict the grade of a sawn board (4 grades) from 7 log-scanner
readings. 4-fold cross-validation, each fold trained from scratch in turn.

No mlx.optimizers: Nesterov momentum written by hand over tree_map; the
velocity tree is compiled state next to model.state.
"""
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

GRADES = ["select", "No.1", "No.2", "cull"]


class Cfg:
    folds = 4
    epochs = 12
    batch = 64
    lr = 0.05
    mom = 0.9
    hidden = 64


def make_logs(n, rng):
    diam = rng.normal(0, 1, n)
    knots = rng.poisson(3, n).astype(np.float32)
    sweep = rng.gamma(2, 0.5, n)
    ring = rng.normal(0, 1, n)
    moist = rng.uniform(-1, 1, n)
    rot = rng.binomial(1, 0.1, n).astype(np.float32)
    taper = rng.normal(0, 1, n)
    score = 0.8 * diam - 0.5 * knots + -0.7 * sweep + 0.4 * ring - 0.3 * np.abs(moist) - 2.5 * rot + 0.2 * taper
    score += rng.logistic(0, 0.5, n)
    cuts = np.quantile(score, [0.25, 0.55, 0.85])
    y = 3 - np.searchsorted(cuts, score)
    X = np.stack([diam, knots, sweep, ring, moist, rot, taper], 1).astype(np.float32)
    return X, y.astype(np.int32)


class GradeNet(nn.Module):
    def __init__(self, h):
        super().__init__()
        self.l1 = nn.Linear(7, h)
        self.l2 = nn.Linear(h, h)
        self.out = nn.Linear(h, 4)

    def __call__(self, x):
        x = nn.gelu(self.l1(x))
        x = nn.gelu(self.l2(x)) + x
        return self.out(x)


def run_fold(k, Xtr, ytr, Xva, yva, cfg, rng):
    mx.random.seed(100 + k)
    model = GradeNet(cfg.hidden)
    mx.eval(model.parameters())
    vel = {"v": tree_map(mx.zeros_like, model.trainable_parameters())}

    def loss_fn(x, y):
        return nn.losses.cross_entropy(model(x), y, reduction="mean")

    vg = nn.value_and_grad(model, loss_fn)

    if k == 0:
        _, g0 = vg(Xtr[:cfg.batch], ytr[:cfg.batch])
        flat = tree_flatten(g0)
        print(f"  grad check: {len(flat)} arrays, zero ones: "
              f"{[n for n, g in flat if not mx.any(g != 0).item()] or 'none'}")

    state = [model.state, vel]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y, lr):
        loss, g = vg(x, y)
        v = tree_map(lambda v_, g_: cfg.mom * v_ + g_, vel["v"], g)
        upd = tree_map(lambda p, v_, g_: p - lr * (g_ + cfg.mom * v_),
                       model.trainable_parameters(), v, g)
        vel["v"] = v
        model.update(upd)
        return loss

    n = Xtr.shape[0]
    steps_per = n // cfg.batch
    total = cfg.epochs * steps_per
    it = 0
    for ep in range(cfg.epochs):
        perm = rng.permutation(n)
        for b in range(steps_per):
            idx = mx.array(perm[b * cfg.batch:(b + 1) * cfg.batch])
            lr = cfg.lr * 0.5 * (1 + np.cos(np.pi * it / total))
            loss = step(Xtr[idx], ytr[idx], mx.array(lr, dtype=mx.float32))
            mx.eval(loss, state)
            it += 1
    logits = model(Xva)
    p = mx.softmax(logits, axis=-1)
    acc = mx.mean(mx.argmax(logits, -1) == yva).item()
    onehot = mx.eye(4)[yva]
    brier = mx.mean(mx.sum((p - onehot) ** 2, -1)).item()
    within1 = mx.mean(mx.abs(mx.argmax(logits, -1) - yva) <= 1).item()
    ce = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
    return ce, acc, within1, brier


def main():
    cfg = Cfg()
    rng = np.random.default_rng(7)
    X, y = make_logs(8000, rng)
    X = (X - X.mean(0)) / X.std(0)
    fold_of = rng.permutation(len(y)) % cfg.folds
    prior = np.bincount(y, minlength=4) / len(y)
    print("grade shares: " + ", ".join(f"{g} {100 * s:.1f}%" for g, s in zip(GRADES, prior)))
    print(f"prior-only val CE: {-(prior * np.log(prior)).sum():.4f} nats")
    rows = []
    for k in range(cfg.folds):
        tr, va = fold_of != k, fold_of == k
        print(f"fold {k + 1}/{cfg.folds}: training on {tr.sum()} boards ...")
        r = run_fold(k, mx.array(X[tr]), mx.array(y[tr]), mx.array(X[va]), mx.array(y[va]), cfg, rng)
        print(f"fold {k + 1}/{cfg.folds}: val CE {r[0]:.4f}  exact {100 * r[1]:.1f}%  within-one {100 * r[2]:.1f}%  brier {r[3]:.4f}")
        rows.append(r)
    a = np.array(rows)
    print()
    print("| fold | val CE | exact % | within-one % | brier |")
    print("|-----:|-------:|--------:|-------------:|------:|")
    for k, r in enumerate(a):
        print(f"| {k + 1} | {r[0]:.4f} | {100 * r[1]:.1f} | {100 * r[2]:.1f} | {r[3]:.4f} |")
    print(f"| mean | {a[:, 0].mean():.4f} | {100 * a[:, 1].mean():.1f} | {100 * a[:, 2].mean():.1f} | {a[:, 3].mean():.4f} |")


if __name__ == "__main__":
    main()
