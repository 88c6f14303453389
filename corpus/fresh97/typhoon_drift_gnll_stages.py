"""24-hour typhoon track displacement with a heteroscedastic Gaussian head.

Stage "mean":   only the trunk + mean head train (MSE); the log-variance head is
                frozen on purpose, it is not used by that loss.
Stage "spread": everything unfrozen, Gaussian NLL (can go below zero once the
                predicted spread is narrower than one standard unit), early
                stopping on validation NLL, best weights restored at the end.
Rows are CSV on stdout.
"""
import csv
import math
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(2024)
mx.random.seed(2024)


def make_storms(n):
    lat = rng.uniform(8, 35, n)
    u_steer = rng.normal(-4, 3, n)          # m/s, easterlies negative
    v_steer = rng.normal(1, 2.5, n)
    vmax = rng.uniform(20, 70, n)           # m/s
    sst = rng.uniform(25, 31, n)
    recurve = 1 / (1 + np.exp(-(lat - 24) / 2.5))   # 0 in the tropics, 1 poleward
    # beta drift north-west, steering flow, recurvature toward the north-east
    dx = 86.4 * (u_steer * (1 - recurve) + 6 * recurve) - 40 * (vmax / 50)
    dy = 86.4 * v_steer + 60 * (vmax / 50) + 180 * recurve
    # uncertainty grows after recurvature and for weak storms
    sd = 35 + 110 * recurve + 1.2 * (70 - vmax)
    dx = dx + rng.normal(0, 1, n) * sd
    dy = dy + rng.normal(0, 1, n) * sd * 0.8
    X = np.stack([lat, u_steer, v_steer, vmax, sst, np.cos(np.radians(lat))], 1)
    Y = np.stack([dx, dy], 1)
    return X.astype(np.float32), Y.astype(np.float32)


Xtr, Ytr = make_storms(9000)
Xva, Yva = make_storms(1500)
xm, xs = Xtr.mean(0), Xtr.std(0)
ym, ys = Ytr.mean(0), Ytr.std(0)
Xtr_s, Xva_s = (Xtr - xm) / xs, (Xva - xm) / xs
Ytr_s, Yva_s = (Ytr - ym) / ys, (Yva - ym) / ys
Xva_mx, Yva_mx = mx.array(Xva_s), mx.array(Yva_s)


class DriftNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 96), nn.SiLU(), nn.Linear(96, 96), nn.SiLU())
        self.mean_head = nn.Linear(96, 2)
        self.logvar_head = nn.Linear(96, 2)

    def __call__(self, x):
        h = self.trunk(x)
        return self.mean_head(h), self.logvar_head(h)


def mse_loss(model, x, y):
    mu, _ = model(x)
    return nn.losses.mse_loss(mu, y)


def nll_loss(model, x, y):
    mu, logvar = model(x)
    return nn.losses.gaussian_nll_loss(mu, y, mx.exp(logvar))


def validate(model):
    mu, logvar = model(Xva_mx)
    nll = nn.losses.gaussian_nll_loss(mu, Yva_mx, mx.exp(logvar))
    mu_km = np.array(mu) * ys + ym
    sd_km = np.sqrt(np.exp(np.array(logvar))) * ys
    err = mu_km - Yva
    rmse = float(np.sqrt((err ** 2).sum(1).mean()))
    inside = (np.abs(err) <= 1.645 * sd_km).mean() * 100.0   # per-axis 90% interval coverage
    return nll.item(), rmse, inside


def grad_check(model, loss_fn, tag):
    _, g = nn.value_and_grad(model, loss_fn)(model, mx.array(Xtr_s[:256]), mx.array(Ytr_s[:256]))
    leaves = tree_flatten(g)
    zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
    print(f"# {tag}: {len(leaves)} trainable leaves, zero-gradient leaves: {zero or 'none'}")


model = DriftNet()
mx.eval(model.parameters())
writer = csv.DictWriter(
    sys.stdout,
    fieldnames=["stage", "step", "lr", "train_loss", "val_nll", "val_rmse_km", "cover90_pct", "secs"],
    lineterminator="\n",
)
print(f"# storms train={len(Xtr)} val={len(Xva)}; climatology rmse "
      f"{float(np.sqrt(((Yva - ym) ** 2).sum(1).mean())):.1f} km")
writer.writeheader()
t0 = time.time()
batch = 128
order = rng.permutation(len(Xtr_s))
cursor = 0


def next_batch():
    global order, cursor
    if cursor + batch > len(order):
        order, cursor = rng.permutation(len(Xtr_s)), 0
    idx = mx.array(order[cursor:cursor + batch])
    cursor += batch
    return mx.array(Xtr_s)[idx], mx.array(Ytr_s)[idx]


def run_stage(name, loss_fn, opt, steps, report_every, patience=None):
    step_fn = nn.value_and_grad(model, loss_fn)
    grad_check(model, loss_fn, name)
    window = []
    best = (math.inf, None, 0)
    bad = 0
    for step in range(1, steps + 1):
        xb, yb = next_batch()
        loss, grads = step_fn(model, xb, yb)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step % report_every == 0:
            v_nll, v_rmse, inside = validate(model)
            writer.writerow(dict(stage=name, step=step, lr=f"{opt.learning_rate.item():.2e}",
                                 train_loss=f"{np.mean(window):.4f}", val_nll=f"{v_nll:.4f}",
                                 val_rmse_km=f"{v_rmse:.1f}", cover90_pct=f"{inside:.1f}",
                                 secs=f"{time.time() - t0:.1f}"))
            window = []
            if patience is not None:
                if v_nll < best[0] - 1e-4:
                    best = (v_nll, tree_map(lambda p: mx.array(p), model.parameters()), step)
                    bad = 0
                else:
                    bad += 1
                    if bad >= patience:
                        print(f"# early stop at step {step}: no val_nll gain for {patience} checks")
                        break
    return best


# stage 1: mean only, spread head frozen on purpose
model.logvar_head.freeze()
frozen_before = np.array(model.logvar_head.weight)
run_stage("mean", mse_loss, optim.Adam(learning_rate=2e-3), steps=900, report_every=150)
assert np.array_equal(frozen_before, np.array(model.logvar_head.weight))

# stage 2: all parameters, Gaussian NLL, early stopping with best-weight restore
model.unfreeze()
sched = optim.cosine_decay(1e-3, 3000, end=1e-5)
best_nll, best_params, best_step = run_stage("spread", nll_loss, optim.Adam(learning_rate=sched),
                                             steps=3000, report_every=150, patience=5)
model.update(best_params)
mx.eval(model.parameters())
v_nll, v_rmse, inside = validate(model)
print(f"# restored best weights from step {best_step}: val_nll {v_nll:.4f} "
      f"rmse {v_rmse:.1f} km cover90 {inside:.1f}%")
