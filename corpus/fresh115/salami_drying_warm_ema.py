"""Charcuterie drying-room log: predict the % weight a salami stick has lost
after its scheduled hang time, from the cure sheet and the room readings.

Run: python salami_drying_warm_ema.py
"""
import logging
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


class Since(logging.Formatter):
    def __init__(self):
        super().__init__()
        self.t0 = time.perf_counter()

    def format(self, record):
        dt = time.perf_counter() - self.t0
        return f"[{dt:6.1f}s] {record.levelname[0]} {record.getMessage()}"


log = logging.getLogger("salami")
_h = logging.StreamHandler()
_h.setFormatter(Since())
log.addHandler(_h)
log.setLevel(logging.INFO)

CASINGS = ["beef middle", "hog bung", "collagen 60", "fibrous 55", "hog middle"]


def make_sticks(n, rng):
    casing = rng.integers(0, len(CASINGS), n)
    diam = np.array([60, 90, 58, 55, 65], float)[casing] + rng.normal(0, 3, n)  # mm
    perm = np.array([1.0, 0.8, 1.15, 0.9, 1.05])[casing]  # casing permeability
    days = rng.uniform(14, 60, n)
    rh = rng.uniform(70, 88, n)  # %
    temp = rng.uniform(10, 16, n)  # C
    air = rng.uniform(0.05, 0.6, n)  # m/s
    fat = rng.uniform(15, 35, n)  # %
    salt = rng.uniform(2.2, 3.2, n)  # %
    # made-up drying law: diffusion-limited, slower for thick sticks and wet rooms
    k = perm * (1.0 + 1.6 * air) * (100 - rh) / 20.0 * np.exp(0.05 * (temp - 13))
    k *= (1.0 - 0.006 * (fat - 25)) * (1.0 + 0.08 * (salt - 2.7))
    tau = (diam / 60.0) ** 2 * 22.0
    loss_pct = 48.0 * (1.0 - np.exp(-k * days / tau))
    # case hardening: very dry fast rooms seal the surface
    loss_pct -= 3.0 * np.clip(k - 1.6, 0, None) * (days / 60.0)
    loss_pct += rng.normal(0, 1.2, n)
    X = np.stack([diam, days, rh, temp, air, fat, salt], 1).astype(np.float32)
    return casing.astype(np.int32), X, loss_pct.astype(np.float32)


class DryNet(nn.Module):
    def __init__(self, n_num, n_casing, emb=4, hidden=64):
        super().__init__()
        self.casing = nn.Embedding(n_casing, emb)
        self.inp = nn.Linear(n_num + emb, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.mid = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, c, x):
        h = mx.concatenate([self.casing(c), x], axis=-1)
        h = nn.gelu(self.norm(self.inp(h)))
        h = h + nn.gelu(self.mid(h))
        return self.out(h).squeeze(-1)


class Cfg:
    seed = 7
    n_train = 12000
    n_valid = 2000
    batch = 128
    epochs = 10
    peak_lr = 3e-3
    warm_steps = 150
    ema_decay = 0.97
    log_every = 25  # steps, first epoch only
    spec_band = 2.0  # percentage points


def main(cfg=Cfg()):
    rng = np.random.default_rng(cfg.seed)
    mx.random.seed(cfg.seed)
    c_tr, X_tr, y_tr = make_sticks(cfg.n_train, rng)
    c_va, X_va, y_va = make_sticks(cfg.n_valid, rng)
    mu, sd = X_tr.mean(0), X_tr.std(0)
    y_mu, y_sd = float(y_tr.mean()), float(y_tr.std())
    Xs_tr = mx.array((X_tr - mu) / sd)
    Xs_va = mx.array((X_va - mu) / sd)
    ys_tr = mx.array((y_tr - y_mu) / y_sd)
    C_tr, C_va = mx.array(c_tr), mx.array(c_va)

    model = DryNet(X_tr.shape[1], len(CASINGS))
    mx.eval(model.parameters())
    steps_per_epoch = cfg.n_train // cfg.batch
    total = steps_per_epoch * cfg.epochs

    def lr_at(step):
        # linear warm-up from exactly 0, then cosine to 5% of peak
        step = step.astype(mx.float32)
        warm = cfg.peak_lr * step / cfg.warm_steps
        prog = mx.clip((step - cfg.warm_steps) / (total - cfg.warm_steps), 0.0, 1.0)
        cos = cfg.peak_lr * (0.05 + 0.95 * 0.5 * (1 + mx.cos(math.pi * prog)))
        return mx.where(step < cfg.warm_steps, warm, cos)

    opt = optim.Adam(learning_rate=lr_at, bias_correction=True)

    def loss_fn(m, c, x, y):
        return nn.losses.mse_loss(m(c, x), y)

    grad_fn = nn.value_and_grad(model, loss_fn)

    # one eager step-0 gradient check before the compiled loop
    idx0 = mx.array(rng.permutation(cfg.n_train)[: cfg.batch])
    _, g0 = grad_fn(model, C_tr[idx0], Xs_tr[idx0], ys_tr[idx0])
    flat = tree_flatten(g0)
    dead = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
    log.info("grad check: %d leaves, %d all-zero %s", len(flat), len(dead), dead or "")

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(c, x, y):
        loss, grads = grad_fn(model, c, x, y)
        opt.update(model, grads)
        return loss

    def evaluate():
        pred = np.array(model(C_va, Xs_va)) * y_sd + y_mu
        err = pred - y_va
        rmse = float(np.sqrt((err**2).mean()))
        in_spec = float((np.abs(err) <= cfg.spec_band).mean() * 100)
        return rmse, in_spec

    base = float(np.sqrt(((y_va - y_mu) ** 2).mean()))
    log.info("sticks train=%d valid=%d  predict-the-mean rmse=%.2f pp", cfg.n_train, cfg.n_valid, base)

    ema, n_seen, gstep = 0.0, 0, 0
    for epoch in range(1, cfg.epochs + 1):
        perm = rng.permutation(cfg.n_train)
        for b in range(steps_per_epoch):
            idx = mx.array(perm[b * cfg.batch:(b + 1) * cfg.batch])
            lr_used = float(lr_at(mx.array(gstep)))
            loss = train_step(C_tr[idx], Xs_tr[idx], ys_tr[idx])
            mx.eval(loss, state)
            gstep += 1
            n_seen += 1
            ema = cfg.ema_decay * ema + (1 - cfg.ema_decay) * loss.item()
            smooth = ema / (1 - cfg.ema_decay**n_seen)
            if epoch == 1 and (gstep == 1 or gstep % cfg.log_every == 0):
                log.info("ep %d step %4d  lr %.2e  train mse(std, ema) %.4f", epoch, gstep, lr_used, smooth)
        rmse, in_spec = evaluate()
        log.info("ep %d step %4d  lr %.2e  train mse(std, ema) %.4f | valid rmse %.2f pp  within +-%.0f pp: %.1f%%",
                 epoch, gstep, lr_used, smooth, rmse, cfg.spec_band, in_spec)
    log.info("done after %d steps", gstep)


if __name__ == "__main__":
    main()
