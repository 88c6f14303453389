"""Distribution-grid planning: predict the worst voltage drop on a radial feeder
(6-12 buses, random tree, random line resistances and bus loads) with a small
message-passing network over padded adjacency matrices.  AdamW under SGDR (cosine
cycles with warm restarts).  One JSON object per line on stdout.
"""
import json
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

MAX_BUS = 12
CYCLES = [200, 400, 800]
PEAK_LR, MIN_LR = 3e-3, 5e-5
BATCH = 64


def emit(**kw):
    print(json.dumps(kw), flush=True)


def make_feeders(rng, n):
    X = np.zeros((n, MAX_BUS, 4), np.float32)    # load, substation flag, depth/10, resistance to parent
    A = np.zeros((n, MAX_BUS, MAX_BUS), np.float32)
    R = np.zeros((n, MAX_BUS, MAX_BUS), np.float32)
    M = np.zeros((n, MAX_BUS), np.float32)
    y = np.zeros(n, np.float32)
    for g in range(n):
        k = int(rng.integers(6, MAX_BUS + 1))
        parent = [-1] + [int(rng.integers(max(0, i - 3), i)) for i in range(1, k)]
        r = np.r_[0.0, rng.uniform(0.02, 0.08, size=k - 1)]
        load = np.r_[0.0, rng.uniform(0.0, 1.0, size=k - 1) * (rng.random(k - 1) > 0.15)]
        depth = np.zeros(k)
        for i in range(1, k):
            depth[i] = depth[parent[i]] + 1
        through = load.copy()                          # power flowing into each bus's branch
        for i in range(k - 1, 0, -1):
            through[parent[i]] += through[i]
        drop = np.zeros(k)
        for i in range(1, k):
            drop[i] = drop[parent[i]] + r[i] * through[i]
        y[g] = drop.max()
        M[g, :k] = 1
        X[g, :k, 0], X[g, 0, 1], X[g, :k, 2], X[g, :k, 3] = load, 1.0, depth / 10, r * 10
        for i in range(1, k):
            A[g, i, parent[i]] = A[g, parent[i], i] = 1.0
            R[g, i, parent[i]] = R[g, parent[i], i] = r[i] * 10
    return X, A, R, M, y


class FeederMPNN(nn.Module):
    def __init__(self, hidden=32, rounds=3):
        super().__init__()
        self.embed = nn.Linear(4, hidden)
        self.msg = [nn.Linear(hidden, hidden) for _ in range(rounds)]
        self.edge = [nn.Linear(hidden, hidden) for _ in range(rounds)]
        self.upd = [nn.Linear(hidden, hidden) for _ in range(rounds)]
        self.head = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1))

    def __call__(self, x, adj, res, mask):
        m = mask[..., None]
        h = nn.silu(self.embed(x)) * m
        for msg, edge, upd in zip(self.msg, self.edge, self.upd):
            incoming = adj @ msg(h) + res @ edge(h)
            h = nn.silu(upd(h) + incoming) * m
        summed = h.sum(axis=1)
        maxed = mx.where(m > 0, h, -1e9).max(axis=1)
        return self.head(mx.concatenate([summed, maxed], axis=-1)).squeeze(-1)


def main():
    t0 = time.time()
    rng = np.random.default_rng(17)
    tr = make_feeders(rng, 6000)
    va = make_feeders(rng, 1500)
    y_mu, y_sd = float(tr[4].mean()), float(tr[4].std())

    # reference: least squares on (total load, total resistance, bus count, their product)
    def summary(d):
        X, A, R, M, y = d
        tl, tr_ = X[:, :, 0].sum(1), X[:, :, 3].sum(1)
        return np.c_[tl, tr_, M.sum(1), tl * tr_, np.ones(len(y))]
    coef, *_ = np.linalg.lstsq(summary(tr), tr[4], rcond=None)
    ref_mae = float(np.abs(summary(va) @ coef - va[4]).mean())
    emit(event="data", train_feeders=len(tr[4]), valid_feeders=len(va[4]),
         drop_mean_pu=round(y_mu, 4), drop_sd_pu=round(y_sd, 4),
         summary_regression_valid_mae_pu=round(ref_mae, 5))

    mx.random.seed(17)
    model = FeederMPNN()
    mx.eval(model.parameters())
    total = sum(CYCLES)
    sched = optim.join_schedules([optim.cosine_decay(PEAK_LR, c, MIN_LR) for c in CYCLES],
                                 list(np.cumsum(CYCLES)[:-1]))
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)

    Xt, At, Rt, Mt = map(mx.array, tr[:4])
    Yt = mx.array((tr[4] - y_mu) / y_sd)
    Xv, Av, Rv, Mv = map(mx.array, va[:4])

    def loss_fn(m, x, a, r, mask, y):
        return nn.losses.mse_loss(m(x, a, r, mask), y)

    step_fn = nn.value_and_grad(model, loss_fn)
    restarts = set(np.cumsum(CYCLES)[:-1].tolist())
    window = []
    for step in range(total + 1):
        if step % 100 == 0 or step == total:
            pred = np.array(model(Xv, Av, Rv, Mv)) * y_sd + y_mu
            err = np.abs(pred - va[4])
            emit(event="eval", step=step, lr=float(f"{sched(mx.array(step)).item():.3g}"),
                 train_mse_std_units=round(float(np.mean(window)), 5) if window else None,
                 valid_mae_pu=round(float(err.mean()), 5),
                 valid_within_5pct=round(float(100 * np.mean(err <= 0.05 * va[4])), 2),
                 secs=round(time.time() - t0, 1))
            window = []
        if step == total:
            break
        if step in restarts:
            emit(event="warm_restart", step=step, lr=float(f"{sched(mx.array(step)).item():.3g}"))
        idx = mx.array(rng.integers(0, len(tr[4]), size=BATCH))
        loss, grads = step_fn(model, Xt[idx], At[idx], Rt[idx], Mt[idx], Yt[idx])
        if step == 0:
            flat = tree_flatten(grads)
            emit(event="grad_check", leaves=len(flat),
                 zero_leaves=[k for k, g in flat if not mx.any(g != 0).item()])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())

    emit(event="done", steps=total, secs=round(time.time() - t0, 1))


if __name__ == "__main__":
    main()
