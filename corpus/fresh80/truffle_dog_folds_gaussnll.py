"""Truffle forays: predict the log weight of the truffle a dog turns up, with a
heteroscedastic Gaussian head (mean and log-variance).  Three cross-validation
folds are trained one after another from scratch with a hand-written momentum
SGD (tree_map) whose learning rate warms up from 0.  Nothing is printed while a
fold trains; a summary table comes at the end.  The NLL goes negative."""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map


def forays(n, rng):
    soil_ph = rng.uniform(7.0, 8.4, n)
    oak_share = rng.uniform(0.0, 1.0, n)
    rain_aug = rng.gamma(3.0, 20.0, n)          # mm in August
    dog_years = rng.uniform(1.0, 12.0, n)
    depth_cm = rng.uniform(2.0, 25.0, n)
    tree_age = rng.uniform(8.0, 60.0, n)
    mean = (2.6 + 0.9 * (soil_ph - 7.7) + 0.7 * oak_share
            + 0.35 * np.log1p(rain_aug / 30.0) + 0.03 * tree_age ** 0.7
            + 0.015 * depth_cm * oak_share)
    sd = 0.04 + 0.12 * np.exp(-dog_years / 4.0) + 0.006 * depth_cm
    y = mean + rng.normal(0.0, 1.0, n) * sd
    x = np.stack([soil_ph, oak_share, np.log1p(rain_aug), dog_years, depth_cm, tree_age], 1)
    return x.astype(np.float32), y.astype(np.float32), sd.astype(np.float32)


class Forager(nn.Module):
    def __init__(self, d, h=64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU())
        self.mu = nn.Linear(h, 1)
        self.logvar = nn.Linear(h, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.mu(h).squeeze(-1), mx.clip(self.logvar(h).squeeze(-1), -9.0, 4.0)


def gauss_nll(model, x, y):
    mu, lv = model(x)
    return mx.mean(0.5 * (lv + (y - mu) ** 2 * mx.exp(-lv) + math.log(2 * math.pi)))


class MomentumSGD:
    def __init__(self, peak_lr, warmup, mom=0.9):
        self.peak, self.warmup, self.mom = peak_lr, warmup, mom
        self.t = 0
        self.vel = None

    def lr(self):
        return self.peak * min(1.0, self.t / self.warmup)   # 0 at the first update

    def step(self, model, grads):
        if self.vel is None:
            self.vel = tree_map(mx.zeros_like, grads)
        lr = self.lr()
        self.vel = tree_map(lambda v, g: self.mom * v + g, self.vel, grads)
        model.update(tree_map(lambda p, v: p - lr * v, model.trainable_parameters(), self.vel))
        self.t += 1
        return lr


def run_fold(k, xtr, ytr, xva, yva, sva, rng, steps=2500, batch=128):
    mx.random.seed(100 + k)
    model = Forager(xtr.shape[1])
    mx.eval(model.parameters())
    opt = MomentumSGD(peak_lr=0.01, warmup=200)
    untrained = float(gauss_nll(model, xva, yva))
    vg = nn.value_and_grad(model, gauss_nll)
    n = xtr.shape[0]
    first = None
    tail = []
    for s in range(steps):
        idx = mx.array(rng.integers(0, n, batch).astype(np.int32))
        loss, grads = vg(model, xtr[idx], ytr[idx])
        if s == 0:
            leaves = tree_flatten(grads)
            first = (len(leaves), [p for p, g in leaves if float(mx.abs(g).sum()) == 0.0],
                     opt.lr())
        opt.step(model, grads)
        mx.eval(model.parameters(), opt.vel, loss)
        if s >= steps - 200:
            tail.append(loss.item())
    mu, lv = model(xva)
    sd = mx.exp(0.5 * lv)
    val_nll = float(gauss_nll(model, xva, yva))
    rmse = float(mx.sqrt(mx.mean((mu - yva) ** 2)))
    z = mx.abs(yva - mu) / sd
    cover = 100.0 * float(mx.mean(z < 1.6449))
    oracle = float(np.mean(0.5 * (np.log(sva ** 2) + 1 + math.log(2 * math.pi))))
    return dict(fold=k, grad=first, untrained=untrained, train_nll=float(np.mean(tail)), val_nll=val_nll,
                oracle_nll=oracle, rmse=rmse, cover90=cover)


def main():
    t0 = time.time()
    rng = np.random.default_rng(3)
    x, y, sd = forays(9000, rng)
    folds = np.array_split(rng.permutation(len(y)), 3)
    print(f"truffle forays: {len(y)} finds, 3 folds, target log-grams mean {y.mean():.3f} sd {y.std():.3f}")
    print("training folds quietly (hand-written momentum SGD, lr warm-up from 0 over 200 steps) ...")
    rows = []
    for k in range(3):
        va = folds[k]
        tr = np.concatenate([folds[j] for j in range(3) if j != k])
        m, s = x[tr].mean(0), x[tr].std(0)
        norm = lambda a: mx.array((a - m) / s)
        rows.append(run_fold(k, norm(x[tr]), mx.array(y[tr]), norm(x[va]), mx.array(y[va]),
                             sd[va], rng))
    print()
    print("first-step gradients per fold: " + "; ".join(
        f"fold {r['fold']}: {r['grad'][0]} leaves, zero={r['grad'][1]}, lr at update 1={r['grad'][2]:.1f}"
        for r in rows))
    hdr = f"{'fold':>4} {'untrained':>9} {'train_nll':>10} {'val_nll':>9} {'oracle':>8} {'rmse_log_g':>10} {'cover90_%':>9}"
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r['fold']:>4} {r['untrained']:>9.3f} {r['train_nll']:>10.4f} {r['val_nll']:>9.4f} {r['oracle_nll']:>8.4f}"
              f" {r['rmse']:>10.4f} {r['cover90']:>9.1f}")
    print("-" * len(hdr))
    print(f"mean {np.mean([r['untrained'] for r in rows]):>9.3f} {np.mean([r['train_nll'] for r in rows]):>10.4f} {np.mean([r['val_nll'] for r in rows]):>9.4f}"
          f" {np.mean([r['oracle_nll'] for r in rows]):>8.4f} {np.mean([r['rmse'] for r in rows]):>10.4f}"
          f" {np.mean([r['cover90'] for r in rows]):>9.1f}")
    print("nll is in nats per find (lower is better, negative is fine); cover90_% should sit near 90;"
          f" oracle = true-noise NLL. {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
