"""Marathon: does a runner 'hit the wall'?

Stage 1 pretrains a feature trunk on the plentiful finish-time records.
Stage 2 keeps that trunk frozen on purpose and fits only a small wall head on
the few runners who filled in the post-race survey.
"""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(message)s")
log = logging.getLogger("marathon")


def logfmt(**kv):
    parts = []
    for k, v in kv.items():
        if isinstance(v, float):
            v = f"{v:.4f}"
        parts.append(f"{k}={v}")
    log.info(" ".join(parts))


def simulate(n, rng):
    weekly_km = rng.gamma(6.0, 9.0, n)
    long_runs = rng.poisson(6, n).astype(np.float64)
    age = rng.uniform(20, 65, n)
    pb_hours = 2.6 + 2.0 * rng.beta(2, 3, n)
    first_half_ratio = rng.normal(0.48, 0.02, n)        # share of PB pace spent in half 1
    carbs = rng.uniform(0, 90, n)                        # g per hour
    temp = rng.uniform(5, 28, n)
    fitness = 0.02 * weekly_km + 0.08 * long_runs - 0.01 * (age - 40)
    finish = (pb_hours * (1.0 + 0.9 * (0.5 - first_half_ratio)) - 0.15 * fitness
              + 0.012 * (temp - 12).clip(0) + 0.06 * rng.standard_normal(n))
    wall_score = (3.0 * (0.5 - first_half_ratio) / 0.02 * -1.0 - 1.2 * fitness
                  - 0.03 * carbs + 0.12 * (temp - 15) + 1.5)
    wall = (rng.random(n) < 1 / (1 + np.exp(-wall_score))).astype(np.float32)
    X = np.stack([weekly_km, long_runs, age, pb_hours, first_half_ratio, carbs, temp], 1)
    return X.astype(np.float32), finish.astype(np.float32), wall


class Trunk(nn.Module):
    def __init__(self, d_in, width):
        super().__init__()
        self.a = nn.Linear(d_in, width)
        self.b = nn.Linear(width, width)

    def __call__(self, x):
        return nn.gelu(self.b(nn.gelu(self.a(x))))


class Runner(nn.Module):
    def __init__(self, d_in, width=32):
        super().__init__()
        self.trunk = Trunk(d_in, width)
        self.head = nn.Linear(width, 1)

    def __call__(self, x):
        return self.head(self.trunk(x)).squeeze(-1)


def auc(scores, labels):
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    pos = labels == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def batches(n, size, rng):
    perm = rng.permutation(n)
    for i in range(0, n - size + 1, size):
        yield mx.array(perm[i:i + size].astype(np.int32))


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    X, finish, wall = simulate(14000, rng)
    mu, sd = X.mean(0), X.std(0)
    Xs = mx.array((X - mu) / sd)
    f_mu, f_sd = finish.mean(), finish.std()
    F = mx.array((finish - f_mu) / f_sd)
    W = mx.array(wall)

    # ---------------- stage 1: finish-time pretraining on 10000 records -------------
    pre_idx = np.arange(10000)
    x_pre, f_pre = Xs[:10000], F[:10000]
    x_pv, f_pv = Xs[10000:11000], F[10000:11000]
    logfmt(stage="data", pretrain_rows=len(pre_idx), survey_rows=1600, survey_test_rows=1400,
           survey_wall_rate_pct=float(wall[11000:].mean() * 100))

    model = Runner(X.shape[1])
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=2e-3)

    def mse_fn(m, x, y):
        return nn.losses.mse_loss(m(x), y)

    vg = nn.value_and_grad(model, mse_fn)
    _, g = vg(model, x_pre[:128], f_pre[:128])
    zero = [k for k, v in tree_flatten(g) if not mx.any(v != 0).item()]
    logfmt(stage="pretrain", check="grad_leaves", leaves=len(tree_flatten(g)), all_zero=len(zero))
    t0 = time.perf_counter()
    for epoch in range(1, 9):
        acc, nb = 0.0, 0
        for ids in batches(len(pre_idx), 128, rng):
            loss, g = vg(model, x_pre[ids], f_pre[ids])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            acc += loss.item(); nb += 1
        val_rmse_min = (mx.sqrt(nn.losses.mse_loss(model(x_pv), f_pv)) * f_sd * 60).item()
        logfmt(stage="pretrain", epoch=epoch, train_mse_std=acc / nb,
               val_rmse_minutes=val_rmse_min, secs=time.perf_counter() - t0)

    # ---------------- stage 2: frozen trunk, new wall head on 1600 survey rows -------
    trunk_before = {k: np.array(v) for k, v in tree_flatten(model.trunk.parameters())}
    model.head = nn.Linear(32, 1)
    model.trunk.freeze()
    mx.eval(model.parameters())
    x_sv, w_sv = Xs[11000:12600], W[11000:12600]
    x_te, w_te = Xs[12600:], W[12600:]
    w_te_np = np.array(w_te)
    opt2 = optim.SGD(learning_rate=0.05, momentum=0.9)

    def bce_fn(m, x, y):
        return nn.losses.binary_cross_entropy(m(x), y, with_logits=True, reduction="mean")

    vg2 = nn.value_and_grad(model, bce_fn)
    _, g = vg2(model, x_sv[:64], w_sv[:64])
    flat = tree_flatten(g)
    zero = [k for k, v in flat if not mx.any(v != 0).item()]
    logfmt(stage="finetune", check="grad_leaves", trainable=len(flat),
           frozen=len(trunk_before), all_zero=len(zero))

    def report(epoch, train_bce):
        p = mx.sigmoid(model(x_te))
        brier = mx.mean((p - w_te) ** 2).item()
        a = auc(np.array(p), w_te_np)
        logfmt(stage="finetune", epoch=epoch, train_bce=train_bce, test_brier=brier,
               test_auc_pct=float(a * 100), secs=time.perf_counter() - t0)

    report(0, bce_fn(model, x_sv, w_sv).item())
    for epoch in range(1, 41):
        acc, nb = 0.0, 0
        for ids in batches(1600, 64, rng):
            loss, g = vg2(model, x_sv[ids], w_sv[ids])
            opt2.update(model, g)
            mx.eval(model.parameters(), opt2.state, loss)
            acc += loss.item(); nb += 1
        if epoch in (1, 2, 5, 10, 20, 30, 40):
            report(epoch, acc / nb)

    drift = max(float(np.abs(np.array(v) - trunk_before[k]).max())
                for k, v in tree_flatten(model.trunk.parameters()))
    logfmt(stage="done", trunk_max_drift=drift, head_norm=mx.linalg.norm(model.head.weight).item())


if __name__ == "__main__":
    main()
