"""Canoe trip planner: cruising speed (km/h) of a loaded canoe.

First an LR range test on a throw-away model (its loss blows up at the end of the
sweep on purpose), then the real run from fresh weights with SGD + momentum under
cosine annealing with WARM RESTARTS (SGDR), so the loss jumps up at each restart.
Reports are written as INI sections with configparser.
"""
import configparser
import math
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


def make_trips(n, rng):
    rate = rng.uniform(40, 75, n)            # strokes per minute
    mass = rng.uniform(120, 260, n)          # paddlers + gear, kg
    hull = rng.uniform(4.3, 5.8, n)          # hull length, m
    wind = rng.normal(0, 3.5, n)             # head(+)/tail(-) wind, m/s
    current = rng.normal(0, 0.6, n)          # along-course current, km/h
    portages = rng.poisson(1.2, n).astype(np.float64)
    hull_speed = 4.5 * np.sqrt(hull)         # km/h, rough displacement limit
    effort = 1 - np.exp(-(rate - 30) / 25)
    speed = hull_speed * effort * (200 / mass) ** 0.25 - 0.28 * wind - 0.02 * np.maximum(wind, 0) ** 2
    speed = speed + current - 0.15 * portages + rng.normal(0, 0.2, n)
    X = np.stack([rate, mass, hull, wind, current, portages], 1)
    return X.astype(np.float32), speed.astype(np.float32)


class SpeedNet(nn.Module):
    def __init__(self, d_in=6, width=128):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.relu(self.l1(x))
        h = nn.relu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def rmse_kmh(model, X, y, y_sd):
    return float(mx.sqrt(mx.mean((model(X) - y) ** 2))) * y_sd


class SGDR:
    """cosine annealing with warm restarts; period doubles after each restart"""
    def __init__(self, lr_max, lr_min, first_period, mult=2):
        self.lr_max, self.lr_min, self.T0, self.mult = lr_max, lr_min, first_period, mult

    def position(self, step):
        T, start, cycle = self.T0, 0, 0
        while step >= start + T:
            start += T
            T *= self.mult
            cycle += 1
        return cycle, step - start, T

    def __call__(self, step):
        _, t, T = self.position(step)
        return self.lr_min + 0.5 * (self.lr_max - self.lr_min) * (1 + math.cos(math.pi * t / T))


def emit(cfg, section, **kv):
    cfg[section] = {k: (f"{v:.5g}" if isinstance(v, float) else str(v)) for k, v in kv.items()}
    single = configparser.ConfigParser()
    single[section] = cfg[section]
    single.write(sys.stdout)
    sys.stdout.flush()


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    Xtr, ytr = make_trips(12000, rng)
    Xva, yva = make_trips(2000, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    y_mu, y_sd = float(ytr.mean()), float(ytr.std())
    Xtr_m, Xva_m = mx.array((Xtr - mu) / sd), mx.array((Xva - mu) / sd)
    ytr_m, yva_m = mx.array((ytr - y_mu) / y_sd), mx.array((yva - y_mu) / y_sd)
    report = configparser.ConfigParser()
    emit(report, "data", train_trips=len(ytr), valid_trips=len(yva),
         mean_speed_kmh=y_mu, predict_mean_rmse_kmh=float(yva.std()))

    batch = 128
    n = Xtr.shape[0]

    # ---------------- LR range test on a throw-away model ----------------
    mx.random.seed(1)
    probe = SpeedNet()
    mx.eval(probe.parameters())
    sweep_steps, lr_lo, lr_hi = 150, 1e-4, 30.0
    opt = optim.SGD(learning_rate=lr_lo, momentum=0.9)
    vg = nn.value_and_grad(probe, loss_fn)
    smooth, best, best_lr, lrs, losses = None, float("inf"), lr_lo, [], []
    stopped_at = sweep_steps
    for i in range(sweep_steps):
        lr = lr_lo * (lr_hi / lr_lo) ** (i / (sweep_steps - 1))
        opt.learning_rate = lr
        idx = mx.array(rng.integers(0, n, batch))
        loss, g = vg(probe, Xtr_m[idx], ytr_m[idx])
        opt.update(probe, g)
        mx.eval(probe.parameters(), opt.state, loss)
        lv = float(loss)
        smooth = lv if smooth is None else 0.9 * smooth + 0.1 * lv
        lrs.append(lr)
        losses.append(smooth)
        if smooth < best:
            best, best_lr = smooth, lr
        if not math.isfinite(lv) or smooth > 4 * best:
            stopped_at = i + 1
            break
    chosen = best_lr / 10
    emit(report, "range_test", steps_run=stopped_at, lr_at_min_loss=best_lr,
         min_smoothed_mse=best, last_lr=lrs[-1], last_smoothed_mse=losses[-1],
         stopped_by="divergence" if stopped_at < sweep_steps else "end_of_sweep",
         chosen_lr_max=chosen)
    del probe, opt

    # ---------------- the real run, fresh weights ----------------
    mx.random.seed(2)
    model = SpeedNet()
    mx.eval(model.parameters())
    sched = SGDR(lr_max=chosen, lr_min=chosen / 100, first_period=400)
    opt = optim.SGD(learning_rate=chosen, momentum=0.9)
    vg = nn.value_and_grad(model, loss_fn)
    emit(report, "untrained", valid_rmse_kmh=rmse_kmh(model, Xva_m, yva_m, y_sd))

    total = 400 + 800 + 1600
    window = []
    perm, cursor = rng.permutation(n), 0
    prev_cycle = 0
    for step in range(total):
        cycle, t_in, T = sched.position(step)
        opt.learning_rate = sched(step)
        if cursor + batch > n:
            perm, cursor = rng.permutation(n), 0
        idx = mx.array(perm[cursor:cursor + batch])
        cursor += batch
        loss, g = vg(model, Xtr_m[idx], ytr_m[idx])
        if step == 0:
            leaves = tree_flatten(g)
            zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
            emit(report, "grad_check", leaves=len(leaves), zero_leaves=",".join(zero) or "none",
                 loss0=float(loss))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(float(loss))
        if cycle != prev_cycle:
            emit(report, f"restart_{cycle}", step=step, lr_jumps_to=sched(step))
            prev_cycle = cycle
        last_of_cycle = (t_in == T - 1)
        just_restarted = cycle > 0 and t_in in (24, 49)
        if (step + 1) % 200 == 0 or last_of_cycle or just_restarted or (step < 20 and (step + 1) % 10 == 0):
            emit(report, f"step_{step + 1}", cycle=cycle + 1, lr=float(opt.learning_rate),
                 train_mse_std=float(np.mean(window)),
                 valid_rmse_kmh=rmse_kmh(model, Xva_m, yva_m, y_sd),
                 secs=round(time.time() - t0, 1))
            window = []
    emit(report, "done", noise_floor_kmh=0.2, final_valid_rmse_kmh=rmse_kmh(model, Xva_m, yva_m, y_sd),
         secs=round(time.time() - t0, 1))


if __name__ == "__main__":
    main()
