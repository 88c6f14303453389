"""Ten-pin bowling: predict how many boards a ball hooks on a house oil pattern,
with its uncertainty (heteroscedastic Gaussian), from a ball-coverstock id and
five throw measurements.

The coverstock table holds fixed descriptor codes from the ball-maker's spec
sheet and is frozen on purpose; only the MLP and the two heads learn.
Learning rate warms up from 0, then cosine-decays.  Early stopping keeps the
best validation weights and puts them back at the end.
"""
import json
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

SEED = 7
N_TRAIN, N_VALID = 9000, 1500
N_STOCK = 6
BATCH = 128
EPOCHS = 28
PATIENCE = 6


def make_lanes(n, rng):
    stock = rng.integers(0, N_STOCK, size=n)
    speed = rng.normal(17.5, 1.2, n)          # mph
    rev = rng.normal(350, 60, n)              # rpm
    axis_tilt = rng.uniform(5, 20, n)         # degrees
    oil_len = rng.choice([36.0, 39.0, 42.0, 45.0], size=n)  # feet
    games_on_pattern = rng.integers(0, 12, n).astype(np.float64)
    grip = np.array([0.6, 0.9, 1.3, 1.0, 1.6, 0.8])[stock]   # surface friction
    hook = (2.0 + 3.2 * grip * (rev / 350) ** 1.3
            - 0.55 * (speed - 17.5) - 0.09 * (axis_tilt - 12)
            - 0.12 * (oil_len - 40) + 0.18 * np.sqrt(games_on_pattern))
    noise_sd = 0.25 + 0.35 * grip * games_on_pattern / 11
    boards = hook + rng.normal(0, 1, n) * noise_sd
    num = np.stack([speed, rev, axis_tilt, oil_len, games_on_pattern], 1)
    return stock.astype(np.int32), num.astype(np.float32), boards.astype(np.float32)


class HookNet(nn.Module):
    def __init__(self, codes):
        super().__init__()
        self.stock = nn.Embedding(N_STOCK, codes.shape[1])
        self.stock.weight = mx.array(codes)
        self.body = nn.Sequential(nn.Linear(codes.shape[1] + 5, 64), nn.SiLU(),
                                  nn.Linear(64, 64), nn.SiLU())
        self.mean_head = nn.Linear(64, 1)
        self.logvar_head = nn.Linear(64, 1)

    def __call__(self, stock, num):
        h = self.body(mx.concatenate([self.stock(stock), num], axis=1))
        mu = self.mean_head(h).squeeze(1)
        logvar = mx.clip(self.logvar_head(h).squeeze(1), -8.0, 4.0)
        return mu, logvar


def main():
    rng = np.random.default_rng(SEED)
    mx.random.seed(SEED)
    s_tr, x_tr, y_tr = make_lanes(N_TRAIN, rng)
    s_va, x_va, y_va = make_lanes(N_VALID, rng)
    x_mu, x_sd = x_tr.mean(0), x_tr.std(0)
    y_mu, y_sd = float(y_tr.mean()), float(y_tr.std())
    x_tr = (x_tr - x_mu) / x_sd
    x_va = (x_va - x_mu) / x_sd
    t_tr = (y_tr - y_mu) / y_sd
    t_va = (y_va - y_mu) / y_sd

    spec_sheet = np.array([
        [0.1, -0.4, 0.3, 0.0], [0.5, -0.1, 0.2, 0.3], [1.0, 0.6, -0.2, 0.4],
        [0.7, 0.2, 0.1, -0.3], [1.3, 0.9, -0.5, 0.2], [0.4, 0.0, 0.4, -0.1],
    ], dtype=np.float32)
    model = HookNet(spec_sheet)
    model.stock.freeze()
    mx.eval(model.parameters())
    frozen_before = np.array(model.stock.weight)

    steps_per_epoch = N_TRAIN // BATCH
    total = steps_per_epoch * EPOCHS
    warm = 2 * steps_per_epoch
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-5)],
        [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)

    def nll(m, s, x, t):
        mu, logvar = m(s, x)
        return nn.losses.gaussian_nll_loss(mu, t, mx.exp(logvar), full=True)

    loss_and_grad = nn.value_and_grad(model, nll)

    # audit: every trainable leaf gets a gradient at the first step
    _, g0 = loss_and_grad(model, mx.array(s_tr[:BATCH]), mx.array(x_tr[:BATCH]), mx.array(t_tr[:BATCH]))
    zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
    print(json.dumps({"event": "grad_audit", "leaves": len(tree_flatten(g0)), "zero_grad": zero,
                      "frozen": [k for k, _ in tree_flatten(model.stock.parameters())]}))

    state = [model.state, opt.state]

    def _step(s, x, t):
        loss, grads = loss_and_grad(model, s, x, t)
        opt.update(model, grads)
        return loss

    step = mx.compile(_step, inputs=state, outputs=state)

    sv, xv, tv = mx.array(s_va), mx.array(x_va), mx.array(t_va)
    base_nll = float(0.5 * np.log(2 * np.pi * t_va.var()) + 0.5)
    print(json.dumps({"event": "baseline", "valid_nll_constant_gaussian": round(base_nll, 4)}))

    best, best_w, bad, t0 = float("inf"), None, 0, time.time()
    for epoch in range(1, EPOCHS + 1):
        perm = rng.permutation(N_TRAIN)
        run = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            loss = step(mx.array(s_tr[idx]), mx.array(x_tr[idx]), mx.array(t_tr[idx]))
            mx.eval(state, loss)
            run += loss.item()
        mu, logvar = model(sv, xv)
        v_nll = nn.losses.gaussian_nll_loss(mu, tv, mx.exp(logvar), full=True).item()
        rmse_boards = float(mx.sqrt(mx.mean((mu - tv) ** 2)).item()) * y_sd
        z = mx.abs(mu - tv) / mx.exp(0.5 * logvar)
        cover = float(mx.mean(z < 1.96).item()) * 100
        improved = v_nll < best - 1e-4
        if improved:
            best, bad = v_nll, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
        else:
            bad += 1
        print(json.dumps({"epoch": epoch, "lr": round(float(opt.learning_rate.item()), 6),
                          "train_nll": round(run / steps_per_epoch, 4), "valid_nll": round(v_nll, 4),
                          "valid_rmse_boards": round(rmse_boards, 3), "pi95_coverage_pct": round(cover, 1),
                          "best": improved, "secs": round(time.time() - t0, 1)}))
        if bad >= PATIENCE:
            print(json.dumps({"event": "early_stop", "epoch": epoch}))
            break

    model.update(best_w)
    mu, logvar = model(sv, xv)
    final = nn.losses.gaussian_nll_loss(mu, tv, mx.exp(logvar), full=True).item()
    unchanged = bool(np.array_equal(frozen_before, np.array(model.stock.weight)))
    print(json.dumps({"event": "done", "restored_valid_nll": round(final, 4),
                      "coverstock_table_unchanged": unchanged}))


if __name__ == "__main__":
    main()
