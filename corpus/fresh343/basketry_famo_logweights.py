"""Willow basket workshop: two tasks from one shared trunk.

Task A: safe load rating in kg (regression, standardised target, MSE).
Task B: weave splits within a year (binary, BCE with logits).

Task balancing follows FAMO (Liu et al. 2023): the trunk and heads follow
sum_i z_i * grad log L_i, with z = softmax(xi); after each step xi moves
towards the task whose log loss fell the least.  The logged objective
sum_i z_i * log L_i turns negative once the losses drop below 1.

Training runs in two sessions: session 1 saves weights, optimizer state and
xi to disk; session 2 rebuilds everything from the files and carries on.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(343)
N_TRAIN, N_VALID = 4000, 1000


def make_baskets(n):
    rod_mm = rng.uniform(4.0, 12.0, n)          # rod diameter
    stakes = rng.integers(12, 40, n).astype(np.float64)
    soak_h = rng.uniform(2.0, 48.0, n)          # soaking time
    seasoned = rng.integers(0, 2, n).astype(np.float64)
    rand_row = rng.uniform(0.0, 1.0, n)         # share of randing vs slewing
    humidity = rng.uniform(30.0, 90.0, n)       # store humidity
    load = (0.9 * rod_mm + 0.25 * stakes + 3.0 * rand_row
            + 2.0 * seasoned + 0.02 * rod_mm * stakes
            + rng.normal(0.0, 1.2, n))
    score = (-1.5 + 0.12 * np.abs(soak_h - 20.0) + 0.07 * (humidity - 60.0)
             - 1.5 * seasoned + 0.12 * (rod_mm - 8.0) ** 2)
    p = 1.0 / (1.0 + np.exp(-score))
    split = (rng.uniform(0.0, 1.0, n) < p).astype(np.float32)
    X = np.stack([rod_mm, stakes, soak_h, seasoned, rand_row, humidity], 1)
    return X, load, split


Xtr, ytr, btr = make_baskets(N_TRAIN)
Xva, yva, bva = make_baskets(N_VALID)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr = mx.array(((Xtr - mu) / sd).astype(np.float32))
Xva = mx.array(((Xva - mu) / sd).astype(np.float32))
ytr_s = mx.array(((ytr - ymu) / ysd).astype(np.float32))
yva_s = mx.array(((yva - ymu) / ysd).astype(np.float32))
btr, bva = mx.array(btr), mx.array(bva)


class BasketNet(nn.Module):
    def __init__(self, d_in=6, hidden=64):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(d_in, hidden), nn.SiLU(),
                                   nn.Linear(hidden, hidden), nn.SiLU())
        self.load_head = nn.Linear(hidden, 1)
        self.split_head = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.load_head(h).squeeze(-1), self.split_head(h).squeeze(-1)


def task_losses(model, x, y, b):
    load_hat, split_logit = model(x)
    la = nn.losses.mse_loss(load_hat, y)
    lb = nn.losses.binary_cross_entropy(split_logit, b)
    return la, lb


EPS = 1e-8


def famo_objective(model, x, y, b, z):
    la, lb = task_losses(model, x, y, b)
    # grad of this = sum_i z_i * grad log L_i
    obj = z[0] * mx.log(la + EPS) + z[1] * mx.log(lb + EPS)
    return obj, (la, lb)


def evaluate(model):
    load_hat, split_logit = model(Xva)
    mse_s = nn.losses.mse_loss(load_hat, yva_s).item()
    rmse_kg = (mse_s ** 0.5) * ysd
    acc = ((split_logit > 0).astype(mx.float32) == bva).mean().item()
    bce = nn.losses.binary_cross_entropy(split_logit, bva).item()
    return rmse_kg, acc, bce


def save_session(path, model, opt, xi, step):
    flat = dict(tree_flatten(model.parameters()))
    flat.update({"opt." + k: v for k, v in tree_flatten(opt.state)})
    flat["famo.xi"] = xi
    flat["meta.step"] = mx.array(step)
    mx.save_safetensors(path, flat)


def load_session(path):
    flat = mx.load(path)
    model = BasketNet()
    model.update(tree_unflatten([(k, v) for k, v in flat.items()
                                 if not k.startswith(("opt.", "famo.", "meta."))]))
    opt = optim.Adam(learning_rate=LR)
    opt.state = tree_unflatten([(k[4:], v) for k, v in flat.items()
                                if k.startswith("opt.")])
    return model, opt, flat["famo.xi"], int(flat["meta.step"].item())


LR, BETA, GAMMA = 2e-3, 0.025, 1e-3
BATCH, TOTAL_STEPS, SPLIT_AT = 128, 1600, 800


def run(model, opt, xi, start, stop):
    step_fn = nn.value_and_grad(model, famo_objective)
    for step in range(start, stop):
        idx = mx.array(rng.integers(0, N_TRAIN, BATCH))
        x, y, b = Xtr[idx], ytr_s[idx], btr[idx]
        z = mx.softmax(xi)
        (obj, (la, lb)), grads = step_fn(model, x, y, b, z)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        # FAMO weight step: compare log losses on the same batch before/after
        la2, lb2 = task_losses(model, x, y, b)
        delta = mx.array([mx.log(la + EPS) - mx.log(la2 + EPS),
                          mx.log(lb + EPS) - mx.log(lb2 + EPS)])
        g_xi = z * (delta - (z * delta).sum())
        xi = xi - BETA * (g_xi + GAMMA * xi)
        mx.eval(xi)
        if step % 100 == 0 or step == stop - 1:
            rmse_kg, acc, bce = evaluate(model)
            zz = z.tolist()
            print(f"step {step:4d} | famo_obj {obj.item():+.4f} | mse_s {la.item():.4f} "
                  f"bce {lb.item():.4f} | z=({zz[0]:.3f},{zz[1]:.3f}) | "
                  f"val rmse {rmse_kg:.3f} kg acc {acc:.3f} bce {bce:.3f}")
    return model, opt, xi


if __name__ == "__main__":
    t0 = time.time()
    mx.random.seed(343)
    base_rmse = float(np.sqrt(np.mean((yva - ymu) ** 2)))
    prev = float(np.mean(np.array(btr)))
    maj = float(max(np.mean(np.array(bva)), 1 - np.mean(np.array(bva))))
    pv = np.array(bva)
    base_bce = float(-np.mean(pv * np.log(prev) + (1 - pv) * np.log(1 - prev)))
    print(f"baselines: rmse(mean load) {base_rmse:.3f} kg | split majority acc {maj:.3f} "
          f"| prior bce {base_bce:.3f}")

    model = BasketNet()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=LR)
    xi = mx.zeros((2,))
    print("== session 1 ==")
    model, opt, xi = run(model, opt, xi, 0, SPLIT_AT)

    ckpt = os.path.join(tempfile.mkdtemp(), "basketry_session.safetensors")
    save_session(ckpt, model, opt, xi, SPLIT_AT)
    r_before, a_before, _ = evaluate(model)
    del model, opt

    print("== session 2 (from checkpoint) ==")
    model, opt, xi, start = load_session(ckpt)
    r_after, a_after, _ = evaluate(model)
    print(f"resumed at step {start} | val rmse {r_after:.3f} kg acc {a_after:.3f} "
          f"(saved: {r_before:.3f} / {a_before:.3f})")
    model, opt, xi = run(model, opt, xi, start, TOTAL_STEPS)

    rmse_kg, acc, bce = evaluate(model)
    zz = mx.softmax(xi).tolist()
    print(f"final: val rmse {rmse_kg:.3f} kg (baseline {base_rmse:.3f}) | "
          f"split acc {acc:.3f} (majority {maj:.3f}) bce {bce:.3f} (prior {base_bce:.3f}) "
          f"| z=({zz[0]:.3f},{zz[1]:.3f})")
    print(f"done in {time.time() - t0:.1f}s")
