"""Landing-distance regressor, learning rate / weight decay picked by successive halving.

Each candidate writes its weights and AdamW state to disk at the end of a rung; the
survivors are re-loaded from those files into fresh objects before the next rung.
"""
import logging
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s %(name)s: %(message)s")
log = logging.getLogger("halving")


def make_runway_data(n, rng):
    weight_t = rng.uniform(45, 78, n)              # landing weight, tonnes
    headwind = rng.normal(5, 9, n)                 # kt, negative = tailwind
    oat = rng.uniform(-15, 42, n)                  # outside air temperature, C
    slope = rng.uniform(-1.5, 1.5, n)              # runway slope, % (+ uphill)
    elev = rng.uniform(0, 7500, n)                 # airport elevation, ft
    surface = rng.choice(3, n, p=[0.6, 0.3, 0.1])  # dry / wet / contaminated
    flaps_full = rng.random(n) < 0.7
    mu = np.array([1.0, 1.35, 1.9])[surface]
    density = (1 - 6.9e-6 * elev) ** 4.26 * 288.15 / (273.15 + oat)
    vref = 128 * np.sqrt(weight_t / 66.0) * np.where(flaps_full, 1.0, 1.06)
    tas = vref / np.sqrt(density)
    gs = tas - headwind * np.where(headwind < 0, 1.5, 0.5)   # tailwind counts 150 %
    air = 330 + 2.2 * (gs - 120)
    ground = (gs * 0.5144) ** 2 / (2 * 2.1) * mu * (1 - 0.06 * slope)
    dist = air + ground + rng.normal(0, 35, n)
    X = np.stack([weight_t, headwind, oat, slope, elev / 1000.0,
                  surface == 0, surface == 1, surface == 2, flaps_full], axis=1).astype(np.float32)
    return X, dist.astype(np.float32)


class LandingNet(nn.Module):
    def __init__(self, d_in, width=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


class Candidate:
    def __init__(self, cid, lr, wd, seed, workdir, d_in):
        self.cid, self.lr, self.wd, self.seed = cid, lr, wd, seed
        self.wpath = os.path.join(workdir, f"cand{cid}.safetensors")
        self.opath = os.path.join(workdir, f"cand{cid}_opt.safetensors")
        self.d_in = d_in
        self.epochs_done = 0
        self.val_rmse = float("inf")

    def build(self):
        mx.random.seed(self.seed)
        model = LandingNet(self.d_in)
        opt = optim.AdamW(learning_rate=self.lr, weight_decay=self.wd)
        if self.epochs_done > 0:
            model.load_weights(self.wpath)
            opt.init(model.trainable_parameters())
            saved = mx.load(self.opath)
            opt.state = tree_unflatten(list(saved.items()))
        mx.eval(model.parameters(), opt.state)
        return model, opt

    def checkpoint(self, model, opt):
        model.save_weights(self.wpath)
        mx.save_safetensors(self.opath, dict(tree_flatten(opt.state)))


def rmse_m(model, X, y, y_mu, y_sd):
    pred = model(X) * y_sd + y_mu
    return math.sqrt(mx.mean((pred - (y * y_sd + y_mu)) ** 2).item())


def run_rung(cand, n_epochs, Xtr, ytr, Xva, yva, y_mu, y_sd, batch, check_grads=False):
    model, opt = cand.build()
    vg = nn.value_and_grad(model, loss_fn)
    n = Xtr.shape[0]
    rng = np.random.default_rng(cand.seed * 1000 + cand.epochs_done)
    first = True
    for ep in range(n_epochs):
        perm = rng.permutation(n)
        tot, cnt = 0.0, 0
        for s in range(0, n - batch + 1, batch):
            idx = mx.array(perm[s:s + batch])
            loss, grads = vg(model, Xtr[idx], ytr[idx])
            if check_grads and first:
                flat = tree_flatten(grads)
                dead = [k for k, g in flat if mx.max(mx.abs(g)).item() == 0.0]
                log.info("grad check on first step: %d leaves, zero-grad leaves: %s", len(flat), dead or "none")
                first = False
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            cnt += 1
        cand.epochs_done += 1
    cand.val_rmse = rmse_m(model, Xva, yva, y_mu, y_sd)
    cand.checkpoint(model, opt)
    return tot / cnt


def main():
    t0 = time.time()
    rng = np.random.default_rng(7)
    X, y = make_runway_data(9000, rng)
    Xtr_np, ytr_np = X[:6000], y[:6000]
    Xva_np, yva_np = X[6000:7500], y[6000:7500]
    Xte_np, yte_np = X[7500:], y[7500:]
    x_mu, x_sd = Xtr_np.mean(0), Xtr_np.std(0) + 1e-6
    y_mu, y_sd = float(ytr_np.mean()), float(ytr_np.std())
    prep = lambda a: mx.array((a - x_mu) / x_sd)
    Xtr, Xva, Xte = prep(Xtr_np), prep(Xva_np), prep(Xte_np)
    ytr, yva, yte = (mx.array((v - y_mu) / y_sd) for v in (ytr_np, yva_np, yte_np))
    log.info("data: %d train / %d val / %d test, landing distance mean %.0f m sd %.0f m",
             Xtr.shape[0], Xva.shape[0], Xte.shape[0], y_mu, y_sd)

    grid = [(lr, wd) for lr in (3e-4, 1e-3, 3e-3, 1e-2) for wd in (0.0, 0.05)]
    workdir = tempfile.mkdtemp(prefix="sh_runway_")
    cands = [Candidate(i, lr, wd, seed=100 + i, workdir=workdir, d_in=X.shape[1])
             for i, (lr, wd) in enumerate(grid)]
    alive = list(cands)
    budget = 1
    rung = 0
    while True:
        log.info("rung %d: %d candidates x %d epoch(s)", rung, len(alive), budget)
        for c in alive:
            tr = run_rung(c, budget, Xtr, ytr, Xva, yva, y_mu, y_sd, batch=64,
                          check_grads=(rung == 0 and c is alive[0]))
            log.info("  cand=%d lr=%.0e wd=%.2f epochs=%d train_huber=%.4f val_rmse_m=%.1f",
                     c.cid, c.lr, c.wd, c.epochs_done, tr, c.val_rmse)
        alive.sort(key=lambda c: c.val_rmse)
        if len(alive) == 1:
            break
        keep = alive[: len(alive) // 2]
        log.info("  promoted: %s", ", ".join(f"cand{c.cid}" for c in keep))
        alive = keep
        budget *= 2
        rung += 1

    best = alive[0]
    model, _ = best.build()
    test_rmse = rmse_m(model, Xte, yte, y_mu, y_sd)
    pred = model(Xte) * y_sd + y_mu
    mae = mx.mean(mx.abs(pred - mx.array(yte_np))).item()
    log.info("winner cand=%d lr=%.0e wd=%.2f after %d epochs: test RMSE %.1f m, MAE %.1f m (target sd %.0f m)",
             best.cid, best.lr, best.wd, best.epochs_done, test_rmse, mae, y_sd)
    log.info("total %.1fs", time.time() - t0)


if __name__ == "__main__":
    main()
