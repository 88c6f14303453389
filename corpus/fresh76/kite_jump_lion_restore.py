"""Kiteboarding: predict jump height (m) from session readings.

Data-parallel style (mx.distributed, a world of 1 when run plainly),
Lion optimizer, early stopping that restores the best weights.
"""
import time
from collections import namedtuple

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

Report = namedtuple("Report", "epoch lr train_mse val_rmse_m within_half_m_pct secs")


def make_sessions(n, rng):
    wind = rng.uniform(12, 35, n)          # knots
    gust = rng.uniform(1.0, 1.6, n)        # gust factor
    kite = rng.uniform(7, 14, n)           # m^2
    mass = rng.uniform(55, 100, n)         # kg
    edge = rng.uniform(10, 60, n)          # degrees of edging before take-off
    lines = rng.uniform(18, 27, n)         # m
    lift = (wind / 20.0) ** 2 * kite / 10.0 * (80.0 / mass)
    pop = np.sin(np.radians(edge) * 1.4) * (1.0 + 0.5 * (gust - 1.0))
    h = 1.2 * lift * pop * (lines / 22.0) ** 0.5 + 0.4 * np.tanh(gust - 1.2)
    h = np.clip(h, 0.0, None) + rng.normal(0, 0.25, n)
    X = np.stack([wind, gust, kite, mass, edge, lines], 1).astype(np.float32)
    return X, h.astype(np.float32)


class JumpNet(nn.Module):
    def __init__(self, d_in=6, width=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        x = nn.silu(self.l1(x))
        x = nn.silu(self.l2(x))
        return self.out(x).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def evaluate(model, X, y, y_scale):
    pred = np.array(model(mx.array(X))) * y_scale
    err = pred - y * y_scale
    rmse = float(np.sqrt(np.mean(err ** 2)))
    within = float(np.mean(np.abs(err) < 0.5) * 100.0)
    return rmse, within


def main():
    group = mx.distributed.init()
    rank, world = group.rank(), group.size()
    rng = np.random.default_rng(11)
    Xtr, ytr = make_sessions(18000, rng)
    Xva, yva = make_sessions(2000, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
    y_scale = float(ytr.std())
    ytr_s, yva_s = ytr / y_scale, yva / y_scale
    # shard by rank
    Xtr, ytr_s = Xtr[rank::world], ytr_s[rank::world]
    print(Report._fields)
    print(dict(world=world, rank=rank, train=len(Xtr), valid=len(Xva),
               target_sd_m=round(y_scale, 3)))

    mx.random.seed(3)
    model = JumpNet()
    mx.eval(model.parameters())
    opt = optim.Lion(learning_rate=3e-4, weight_decay=1e-3)
    vg = nn.value_and_grad(model, loss_fn)

    def all_mean(g):
        return tree_map(lambda a: mx.distributed.all_sum(a, group=group) / world, g)

    # first-step gradient audit
    _, g0 = vg(model, mx.array(Xtr[:256]), mx.array(ytr_s[:256]))
    g0 = all_mean(g0)
    flat = tree_flatten(g0)
    zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
    print(dict(grad_leaves=len(flat), zero_leaves=zero))

    rmse0, w0 = evaluate(model, Xva, yva_s, y_scale)
    print(Report(0, 0.0, float("nan"), round(rmse0, 4), round(w0, 1), 0.0))

    best, best_params, bad, patience = float("inf"), None, 0, 3
    bs, t0 = 64, time.time()
    for epoch in range(1, 31):
        lr = 3e-4 if epoch <= 10 else 1e-4
        opt.learning_rate = lr
        perm = rng.permutation(len(Xtr))
        tot, nb = 0.0, 0
        for i in range(0, len(perm) - bs + 1, bs):
            idx = perm[i:i + bs]
            loss, g = vg(model, mx.array(Xtr[idx]), mx.array(ytr_s[idx]))
            opt.update(model, all_mean(g))
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); nb += 1
        rmse, within = evaluate(model, Xva, yva_s, y_scale)
        star = rmse < best - 1e-4
        if star:
            best, bad = rmse, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_params)
        else:
            bad += 1
        print(Report(epoch, lr, round(tot / nb, 5), round(rmse, 4), round(within, 1),
                     round(time.time() - t0, 1)), "*" if star else "")
        if bad >= patience:
            print(dict(early_stop=epoch, best_val_rmse_m=round(best, 4)))
            break
    model.update(best_params)
    rmse, within = evaluate(model, Xva, yva_s, y_scale)
    print(dict(restored_val_rmse_m=round(rmse, 4), within_half_m_pct=round(within, 1),
               noise_floor_m=0.25, predict_mean_rmse_m=round(float(yva.std()), 4)))


if __name__ == "__main__":
    main()
