"""Tower-clock drift model.

Stage 1 ("workshop"): fit daily drift (s/day) of pendulum tower clocks from
six readings on a big set of workshop clocks.
Stage 2 ("parish"): fine-tune on a small set of clocks from one parish whose
drift law is slightly different, with discriminative learning rates:
the first body layer is kept fixed by a learning rate of 0, the second
layer moves slowly and the head moves fastest.

Nothing is printed while training; every measurement goes into an
in-memory sqlite table which is queried at the end.
"""
import sqlite3
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)


def make_clocks(n, parish=False):
    temp = rng.uniform(-10, 30, n)            # C in the tower
    len_err = rng.normal(0, 0.4, n)           # mm pendulum length error
    press = rng.normal(1013, 9, n)            # hPa
    humid = rng.uniform(30, 95, n)            # %
    oil_age = rng.uniform(0, 5, n)            # years since oiling
    wind = rng.gamma(2.0, 3.0, n)             # m/s on the dial
    drift = (-0.42 * (temp - 15) * (0.8 if parish else 1.0)
             - 21.6 * len_err
             + 0.03 * (press - 1013)
             + 0.9 * np.tanh((humid - 60) / 15)
             + 0.6 * oil_age ** 1.3
             + 0.05 * wind ** 1.5
             + (1.5 if parish else 0.0))
    drift = drift + rng.normal(0, 0.6, n)
    X = np.stack([temp, len_err, press, humid, oil_age, wind], 1)
    return X.astype(np.float32), drift.astype(np.float32)


Xw, yw = make_clocks(20000)
Xp, yp = make_clocks(900, parish=True)
Xpt, ypt = make_clocks(2000, parish=True)
mu, sd = Xw.mean(0), Xw.std(0)
ymu, ysd = float(yw.mean()), float(yw.std())


def prep(X, y):
    return mx.array((X - mu) / sd), mx.array((y - ymu) / ysd)


Xw_, yw_ = prep(Xw, yw)
Xp_, yp_ = prep(Xp, yp)
Xpt_, ypt_ = prep(Xpt, ypt)


class DriftNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l0 = nn.Linear(6, 64)
        self.l1 = nn.Linear(64, 64)
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l0(x))
        h = nn.silu(self.l1(h))
        return self.head(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def rmse_s(model, X, y):
    return float(mx.sqrt(mx.mean((model(X) - y) ** 2)).item()) * ysd


class LayerwiseSGD:
    """Plain momentum SGD with one learning rate per top-level submodule."""

    def __init__(self, lrs, momentum=0.9):
        self.lrs = lrs
        self.mom = momentum
        self.vel = {}

    def step(self, model, grads):
        new = []
        params = dict(tree_flatten(model.parameters()))
        for path, g in tree_flatten(grads):
            lr = self.lrs[path.split(".")[0]]
            v = self.mom * self.vel.get(path, mx.zeros_like(g)) + g
            self.vel[path] = v
            new.append((path, params[path] - lr * v))
        model.update(tree_unflatten(new))
        return list(self.vel.values())


db = sqlite3.connect(":memory:")
db.execute("create table log(stage text, step int, train_mse_std real,"
           " test_rmse_s real, secs real)")
db.execute("create table gradcheck(stage text, leaves int, zero_leaves text)")

mx.random.seed(3)
model = DriftNet()
mx.eval(model.parameters())
vg = nn.value_and_grad(model, loss_fn)
t0 = time.time()


def run_stage(name, X, y, Xt, yt, lrs, steps, bs, report):
    opt = LayerwiseSGD(lrs)
    n = X.shape[0]
    perm, cur, window = np.random.default_rng(5).permutation(n), 0, []
    db.execute("insert into log values(?,?,?,?,?)",
               (name, 0, None, rmse_s(model, Xt, yt), time.time() - t0))
    for step in range(1, steps + 1):
        if cur + bs > n:
            perm, cur = np.random.default_rng(step).permutation(n), 0
        idx = mx.array(perm[cur:cur + bs])
        cur += bs
        loss, grads = vg(model, X[idx], y[idx])
        if step == 1:
            flat = tree_flatten(grads)
            zero = [p for p, g in flat if float(mx.abs(g).max().item()) == 0.0]
            db.execute("insert into gradcheck values(?,?,?)",
                       (name, len(flat), ",".join(zero) or "-"))
        vel = opt.step(model, grads)
        mx.eval(model.parameters(), vel, loss)
        window.append(loss.item())
        if step % report == 0:
            db.execute("insert into log values(?,?,?,?,?)",
                       (name, step, float(np.mean(window)),
                        rmse_s(model, Xt, yt), time.time() - t0))
            window = []


run_stage("workshop", Xw_, yw_, Xpt_, ypt_,
          {"l0": 0.02, "l1": 0.02, "head": 0.02}, 2500, 128, 250)
l0_before = np.array(model.l0.weight)
run_stage("parish", Xp_, yp_, Xpt_, ypt_,
          {"l0": 0.0, "l1": 0.002, "head": 0.01}, 1200, 64, 100)
l0_drift = float(np.abs(np.array(model.l0.weight) - l0_before).max())

print("tower clock drift - results from the run log (sqlite, in memory)")
print("noise floor of the law: 0.600 s/day; predict-mean on parish test:"
      f" {float(ypt.std()):.3f} s/day")
for stage, leaves, zero in db.execute("select * from gradcheck"):
    print(f"first-step gradients [{stage}]: {leaves} leaves, zero: {zero}")
print()
print("stage     step  train_mse(std)  parish_test_rmse(s/day)  secs")
for row in db.execute("select stage, step, train_mse_std, test_rmse_s, secs"
                      " from log order by rowid"):
    stage, step, tr, te, secs = row
    trs = "" if tr is None else f"{tr:.4f}"
    print(f"{stage:<9s} {step:>4d}  {trs:>14s}  {te:>23.3f}  {secs:5.1f}")
print()
best = db.execute("select stage, step, min(test_rmse_s) from log").fetchone()
print(f"best parish test RMSE {best[2]:.3f} s/day ({best[0]} step {best[1]})")
print(f"lr of l0 in the parish stage was 0; its max weight change: {l0_drift:.1e}")
