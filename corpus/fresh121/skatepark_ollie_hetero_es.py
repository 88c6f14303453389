"""Ollie height from a skatepark sensor board, with a per-trick uncertainty.

Heteroscedastic Gaussian head (mean + log-variance), Gaussian NLL in
standardised units (it goes below zero once the model is confident), a
learning rate that starts at exactly 0 and warms up, a compiled step that
carries model and optimizer state, and early stopping that puts the best
weights back before the test pass.
"""
import logging
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s ollie | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("ollie")

FEATURES = ["rider_kg", "runup_ms", "pop_ms", "knee_deg", "concave_mm", "durometer"]


def make_tricks(n, rng):
    rider = rng.normal(68, 9, n)
    runup = rng.uniform(1.0, 5.5, n)
    pop = rng.gamma(6.0, 0.25, n)
    knee = rng.uniform(60, 130, n)
    concave = rng.uniform(3, 12, n)
    duro = rng.uniform(78, 101, n)
    # made-up law: pop and knee flex do most of it, heavy riders lose a bit,
    # run-up speed helps up to a point, concave helps the catch
    h = (14 * np.tanh(pop - 0.5) + 0.09 * (130 - knee) + 3.0 * np.sin(runup) * (runup < 4)
         + 0.6 * concave - 0.08 * (rider - 68) - 0.05 * (duro - 90) + 18)
    # sloppier at speed: noise grows with run-up
    sd = 0.25 + 0.3 * (runup - 1.0)
    y = h + rng.normal(0, 1, n) * sd
    x = np.stack([rider, runup, pop, knee, concave, duro], 1)
    return x.astype(np.float32), y.astype(np.float32)


class OllieNet(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU())
        self.mean = nn.Linear(width, 1)
        self.logvar = nn.Linear(width, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.mean(h).squeeze(-1), mx.clip(self.logvar(h).squeeze(-1), -7.0, 4.0)


HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def gaussian_nll(model, x, y):
    mu, lv = model(x)
    return mx.mean(0.5 * (lv + (y - mu) ** 2 * mx.exp(-lv)) + HALF_LOG_2PI)


def evaluate(model, x, y, y_sd, bs=1000):
    nll, se, inside, n = 0.0, 0.0, 0, x.shape[0]
    for s in range(0, n, bs):
        mu, lv = model(x[s:s + bs])
        yy = y[s:s + bs]
        part = 0.5 * (lv + (yy - mu) ** 2 * mx.exp(-lv)) + HALF_LOG_2PI
        z = mx.abs(yy - mu) / mx.exp(0.5 * lv)
        mx.eval(part, z)
        nll += float(part.sum())
        se += float(((yy - mu) ** 2).sum())
        inside += int((z < 1.645).sum())
    return nll / n, math.sqrt(se / n) * y_sd, 100.0 * inside / n


def main():
    rng = np.random.default_rng(121)
    x_all, y_all = make_tricks(4200, rng)
    n_tr, n_va = 2400, 900
    x_mu, x_sd = x_all[:n_tr].mean(0), x_all[:n_tr].std(0)
    y_mu, y_sd = float(y_all[:n_tr].mean()), float(y_all[:n_tr].std())
    xs = mx.array((x_all - x_mu) / x_sd)
    ys = mx.array((y_all - y_mu) / y_sd)
    xtr, ytr = xs[:n_tr], ys[:n_tr]
    xva, yva = xs[n_tr:n_tr + n_va], ys[n_tr:n_tr + n_va]
    xte, yte = xs[n_tr + n_va:], ys[n_tr + n_va:]
    log.info("data train=%d valid=%d test=%d features=%s height_sd_cm=%.2f",
             n_tr, n_va, xte.shape[0], ",".join(FEATURES), y_sd)

    mx.random.seed(5)
    model = OllieNet(len(FEATURES))
    mx.eval(model.parameters())

    batch = 64
    steps_per_epoch = n_tr // batch
    warm = 150
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, 60 * steps_per_epoch, 2e-4)],
        [warm])
    opt = optim.Adam(learning_rate=sched)

    # one uncompiled look at the gradients before training
    loss0, g0 = nn.value_and_grad(model, gaussian_nll)(model, xtr[:batch], ytr[:batch])
    flat = tree_flatten(g0)
    zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
    log.info("grad_check leaves=%d zero=%s loss0=%.4f", len(flat), zero, float(loss0))

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = nn.value_and_grad(model, gaussian_nll)(model, x, y)
        opt.update(model, grads)
        return loss

    va_nll, va_rmse, va_cov = evaluate(model, xva, yva, y_sd)
    log.info("epoch=0 lr=%.2e valid_nll=%.4f valid_rmse_cm=%.2f cover90=%.1f%%", 0.0, va_nll, va_rmse, va_cov)

    best_nll, best_epoch, best_w, patience, bad = float("inf"), 0, None, 5, 0
    t0 = time.perf_counter()
    for epoch in range(1, 61):
        perm = mx.array(rng.permutation(n_tr))
        tot = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * batch:(b + 1) * batch]
            loss = step(xtr[idx], ytr[idx])
            mx.eval(state, loss)
            tot += loss.item()
        va_nll, va_rmse, va_cov = evaluate(model, xva, yva, y_sd)
        lr_now = opt.learning_rate.item()
        improved = va_nll < best_nll - 1e-4
        if improved:
            best_nll, best_epoch, bad = va_nll, epoch, 0
            best_w = [(k, mx.array(v)) for k, v in tree_flatten(model.parameters())]
        else:
            bad += 1
        log.info("epoch=%d lr=%.2e train_nll=%.4f valid_nll=%.4f valid_rmse_cm=%.2f cover90=%.1f%% best=%d%s",
                 epoch, lr_now, tot / steps_per_epoch, va_nll, va_rmse, va_cov, best_epoch,
                 "" if improved else f" wait={bad}/{patience}")
        if bad >= patience:
            log.info("early_stop epoch=%d restoring epoch=%d", epoch, best_epoch)
            break

    model.update(tree_unflatten(best_w))
    mx.eval(model.parameters())
    chk, _, _ = evaluate(model, xva, yva, y_sd)
    te_nll, te_rmse, te_cov = evaluate(model, xte, yte, y_sd)
    log.info("restored valid_nll=%.4f (best %.4f) test_nll=%.4f test_rmse_cm=%.2f cover90=%.1f%% secs=%.1f",
             chk, best_nll, te_nll, te_rmse, te_cov, time.perf_counter() - t0)
    mu, lv = model(xte)
    sd_cm = np.array(mx.exp(0.5 * lv)) * y_sd
    runup = x_all[n_tr + n_va:, 1]
    log.info("pred_sd_cm slow_runup=%.2f fast_runup=%.2f (true 0.25+0.3*(runup-1): 0.40 vs 1.45)",
             float(sd_cm[runup < 2].mean()), float(sd_cm[runup > 4.5].mean()))
    log.info("done")


if __name__ == "__main__":
    main()
