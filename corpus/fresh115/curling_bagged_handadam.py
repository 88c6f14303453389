"""Curling: where does the stone stop? Distance past the button (m, signed)
regressed from a thrower's delivery log.  A bagged ensemble of 4 small MLPs,
each trained in turn from its own seed on a bootstrap resample, with a
hand-written Adam (no mlx.optimizers).  Out-of-bag RMSE per member, then the
ensemble on a held-out set.  Output: YAML-ish documents, one per member."""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(2024)
N, NT = 6000, 1500


def make(n):
    speed = rng.uniform(2.0, 2.6, n)          # release speed m/s
    spin = rng.uniform(-3, 3, n)              # rotations over the throw
    sweep = rng.uniform(0, 12, n)             # seconds of sweeping
    ice_t = rng.uniform(-7, -3, n)            # ice temperature C
    pebble = rng.uniform(0, 8, n)             # end number (pebble wear)
    mu = 0.0125 + 0.0009 * (ice_t + 5) + 0.0006 * pebble - 0.00035 * sweep
    dist = speed ** 2 / (2 * 9.81 * mu) - 28.0 + 0.4 * np.abs(spin)
    dist = dist + rng.normal(0, 0.35, n)
    X = np.stack([speed, spin, sweep, ice_t, pebble], 1).astype(np.float32)
    return X, dist.astype(np.float32)


Xtr, ytr = make(N)
Xte, yte = make(NT)
mx_, sx_ = Xtr.mean(0), Xtr.std(0)
my, sy = ytr.mean(), ytr.std()
Xtr_s, Xte_s = (Xtr - mx_) / sx_, (Xte - mx_) / sx_
ytr_s = (ytr - my) / sy


class StoneNet(nn.Module):
    def __init__(self, width=48):
        super().__init__()
        self.l1 = nn.Linear(5, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


class HandAdam:
    """Adam over a flat list of (path, array); state kept as plain lists."""

    def __init__(self, lr=2e-3, b1=0.9, b2=0.999, eps=1e-8):
        self.lr, self.b1, self.b2, self.eps = lr, b1, b2, eps
        self.t = 0
        self.m = None
        self.v = None

    def step(self, model, grads):
        flat_p = tree_flatten(model.trainable_parameters())
        flat_g = dict(tree_flatten(grads))
        if self.m is None:
            self.m = [mx.zeros_like(p) for _, p in flat_p]
            self.v = [mx.zeros_like(p) for _, p in flat_p]
        self.t += 1
        c1 = 1 - self.b1 ** self.t
        c2 = 1 - self.b2 ** self.t
        new = []
        for i, (k, p) in enumerate(flat_p):
            g = flat_g[k]
            self.m[i] = self.b1 * self.m[i] + (1 - self.b1) * g
            self.v[i] = self.b2 * self.v[i] + (1 - self.b2) * g * g
            upd = self.lr * (self.m[i] / c1) / (mx.sqrt(self.v[i] / c2) + self.eps)
            new.append((k, p - upd))
        model.update(tree_unflatten(new))
        return self.m + self.v


def mse(model, x, y):
    return ((model(x) - y) ** 2).mean()


def rmse_m(model, X, y):
    pred = np.array(model(mx.array(X))) * sy + my
    return float(np.sqrt(np.mean((pred - y) ** 2)))


EPOCHS, BS, MEMBERS = 8, 64, 4
members = []
t0 = time.time()
print(f"# curling bagging: {N} train throws, {NT} test throws, {MEMBERS} members")
print(f"# predict-the-mean test rmse_m: {float(np.sqrt(np.mean((yte - my) ** 2))):.3f}")
for mbr in range(MEMBERS):
    mx.random.seed(100 + mbr)
    brng = np.random.default_rng(7 + mbr)
    boot = brng.integers(0, N, N)
    oob = np.setdiff1d(np.arange(N), boot)
    model = StoneNet()
    mx.eval(model.parameters())
    opt = HandAdam(lr=2e-3)
    vg = nn.value_and_grad(model, mse)
    print("---")
    print(f"member: {mbr + 1}")
    print(f"bootstrap_unique: {len(np.unique(boot))}")
    print(f"oob_size: {len(oob)}")
    print(f"untrained_oob_rmse_m: {rmse_m(model, Xtr_s[oob], ytr[oob]):.3f}")
    print("epochs:")
    for ep in range(1, EPOCHS + 1):
        perm = brng.permutation(boot)
        tot, nb = 0.0, 0
        for s in range(0, N - BS + 1, BS):
            idx = perm[s:s + BS]
            xb, yb = mx.array(Xtr_s[idx]), mx.array(ytr_s[idx])
            loss, grads = vg(model, xb, yb)
            if mbr == 0 and ep == 1 and s == 0:
                gl = tree_flatten(grads)
                zero = [k for k, g in gl if float(mx.abs(g).max()) == 0.0]
                print(f"  # grad_leaves: {len(gl)}, all_zero: {zero}")
                assert not zero
            state = opt.step(model, grads)
            mx.eval(loss, model.parameters(), state)
            tot += loss.item()
            nb += 1
        if ep in (1, 2, 4, 6, 8):
            print(f"  - {{epoch: {ep}, train_mse_scaled: {tot / nb:.4f}, "
                  f"oob_rmse_m: {rmse_m(model, Xtr_s[oob], ytr[oob]):.3f}}}")
    members.append(model)
    print(f"test_rmse_m: {rmse_m(model, Xte_s, yte):.3f}")
    print(f"elapsed_s: {time.time() - t0:.1f}")

preds = np.stack([np.array(m(mx.array(Xte_s))) * sy + my for m in members])
ens = preds.mean(0)
print("---")
print("ensemble:")
print(f"  members: {MEMBERS}")
print(f"  test_rmse_m: {float(np.sqrt(np.mean((ens - yte) ** 2))):.3f}")
print(f"  mean_member_spread_m: {float(preds.std(0).mean()):.3f}")
print(f"  within_30cm_pct: {100 * float(np.mean(np.abs(ens - yte) < 0.30)):.1f}")
print(f"  elapsed_s: {time.time() - t0:.1f}")
