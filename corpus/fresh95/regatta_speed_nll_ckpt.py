"""Regatta boat-speed model with predictive uncertainty.

Predict boat speed (knots) AND its spread from sailing conditions with a
heteroscedastic Gaussian likelihood. The training objective is the Gaussian
negative log-likelihood, which goes below zero once the predicted spread is
small. Early stopping keeps the best checkpoint on disk (save_weights) and
reloads it at the end (load_weights).
"""
import logging
import math
import os
import tempfile
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(levelname)-7s %(name)s: %(message)s")
log = logging.getLogger("regatta")


class Cfg:
    n_train = 14000
    n_val = 3000
    batch = 128
    lr = 3e-4
    max_epochs = 40
    patience = 5
    clip = 5.0
    seed = 11


def simulate(rng, n):
    tws = rng.gamma(4.0, 3.0, n)                      # true wind speed, kn
    twa = rng.uniform(35, 180, n)                     # true wind angle, deg
    wave = np.clip(0.08 * tws + rng.normal(0, 0.3, n), 0, None)  # wave height, m
    crew = rng.uniform(0.5, 1.0, n)                   # crew skill
    foul = rng.uniform(0, 1, n)                       # hull fouling index
    a = np.radians(twa)
    polar = 1.9 * np.sqrt(tws) * (np.sin(a) ** 0.7) * (1 + 0.25 * np.cos(a - 2.2))
    speed = polar * (0.8 + 0.25 * crew) - 0.6 * foul - 0.4 * wave
    noise_sd = 0.05 + 0.06 * wave + 0.02 * tws * (twa > 140)  # downwind surfing is noisy
    speed = np.clip(speed, 0.2, None) + rng.normal(0, 1, n) * noise_sd
    X = np.stack([tws, np.sin(a), np.cos(a), wave, crew, foul], axis=1)
    return X.astype(np.float32), speed.astype(np.float32)


class SpeedNet(nn.Module):
    def __init__(self, d_in=6, d_h=64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, d_h), nn.SiLU(), nn.Linear(d_h, d_h), nn.SiLU())
        self.mean = nn.Linear(d_h, 1)
        self.log_sd = nn.Linear(d_h, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.mean(h).squeeze(-1), mx.clip(self.log_sd(h).squeeze(-1), -7.0, 3.0)


def gauss_nll(model, x, y):
    mu, log_sd = model(x)
    z = (y - mu) * mx.exp(-log_sd)
    return mx.mean(0.5 * z * z + log_sd + 0.5 * math.log(2 * math.pi))


def main():
    cfg = Cfg()
    rng = np.random.default_rng(cfg.seed)
    mx.random.seed(cfg.seed)
    Xtr, ytr = simulate(rng, cfg.n_train)
    Xva, yva = simulate(rng, cfg.n_val)
    mu_x, sd_x = Xtr.mean(0), Xtr.std(0)
    Xtr = (Xtr - mu_x) / sd_x
    Xva = (Xva - mu_x) / sd_x
    Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))
    log.info("boats: %d train / %d val, mean speed %.2f kn, sd %.2f kn",
             cfg.n_train, cfg.n_val, ytr.mean().item(), mx.std(ytr).item())

    model = SpeedNet()
    opt = optim.Lion(learning_rate=cfg.lr, weight_decay=1e-4)
    loss_and_grad = nn.value_and_grad(model, gauss_nll)

    # one uncompiled probe step to check every leaf gets a gradient
    _, g0 = loss_and_grad(model, Xtr[:cfg.batch], ytr[:cfg.batch])
    zero = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0]
    log.info("gradient check: %d leaves, zero-gradient leaves: %s", len(tree_flatten(g0)), zero or "none")

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(x, y):
        loss, grads = loss_and_grad(model, x, y)
        grads, gnorm = optim.clip_grad_norm(grads, cfg.clip)
        opt.update(model, grads)
        return loss, gnorm

    def validate():
        mu, log_sd = model(Xva)
        sd = mx.exp(log_sd)
        z = (yva - mu) / sd
        nll = mx.mean(0.5 * z * z + log_sd + 0.5 * math.log(2 * math.pi)).item()
        rmse = mx.sqrt(mx.mean((yva - mu) ** 2)).item()
        cover = (mx.abs(z) <= 1.645).mean().item() * 100.0
        return nll, rmse, cover

    nll0, rmse0, cov0 = validate()
    log.info("untrained: val_nll %.3f  val_rmse %.3f kn  90%%-interval coverage %.1f%%", nll0, rmse0, cov0)

    ckpt_dir = tempfile.mkdtemp(prefix="regatta_")
    best_path = os.path.join(ckpt_dir, "best.safetensors")
    best, best_epoch, waited = float("inf"), 0, 0
    nb = cfg.n_train // cfg.batch
    t0 = time.time()
    for epoch in range(1, cfg.max_epochs + 1):
        perm = mx.array(rng.permutation(cfg.n_train))
        tot, gmax = 0.0, 0.0
        for b in range(nb):
            idx = perm[b * cfg.batch:(b + 1) * cfg.batch]
            loss, gnorm = train_step(Xtr[idx], ytr[idx])
            mx.eval(state, loss, gnorm)
            tot += loss.item()
            gmax = max(gmax, gnorm.item())
        val_nll, val_rmse, cover = validate()
        mark = ""
        if val_nll < best - 1e-4:
            best, best_epoch, waited = val_nll, epoch, 0
            model.save_weights(best_path)
            mark = " (saved)"
        else:
            waited += 1
        log.info("epoch %2d  train_nll %+.3f  val_nll %+.3f  val_rmse %.3f kn  coverage %.1f%%  max|g| %.2f  %.1fs%s",
                 epoch, tot / nb, val_nll, val_rmse, cover, gmax, time.time() - t0, mark)
        if waited >= cfg.patience:
            log.warning("no val_nll improvement for %d epochs, stopping at epoch %d", cfg.patience, epoch)
            break

    model.load_weights(best_path)
    val_nll, val_rmse, cover = validate()
    log.info("restored epoch %d checkpoint: val_nll %+.3f  val_rmse %.3f kn  coverage %.1f%%",
             best_epoch, val_nll, val_rmse, cover)


if __name__ == "__main__":
    main()
