# Kelp farming: daily blade growth (cm/day). Pretrain on a big pooled dataset of farms,
# then freeze the shared body and re-fit only a new head for one new farm site.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)
mx.random.seed(11)
NAMES = ["sea_temp_C", "nitrate_uM", "light_mol", "current_cm_s", "depth_m"]


def farms(n, site_shift=0.0):
    t = rng.uniform(6, 18, n); no3 = rng.gamma(2.0, 2.0, n); lt = rng.uniform(5, 40, n)
    cur = rng.uniform(0, 40, n); dep = rng.uniform(1, 10, n)
    g = (3.0 * no3 / (no3 + 2.0) * np.exp(-((t - 11.0) / 4.0) ** 2) * (1 - np.exp(-lt * np.exp(-0.15 * dep) / 8))
         * (0.6 + 0.4 * np.tanh(cur / 10)))
    g = g * (1.0 + site_shift) + 0.3 * site_shift * (t > 14)
    y = g + rng.normal(0, 0.12, n)
    return np.stack([t, no3, lt, cur, dep], 1).astype(np.float32), y.astype(np.float32)


class Grower(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(5, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        return self.head(self.body(x)).squeeze(-1)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def rmse(model, x, y):
    return math.sqrt(mse(model, x, y).item())


def rule(ch="="):
    print(ch * 66)


def row(stage, step, lr, ema, val):
    e = "" if ema is None else f"{ema:.4f}"
    print(f"{stage:<9}{step:>7}{lr:>12.2e}{e:>14}{val:>14.4f}{'':>10}")


def train(model, opt, x, y, steps, batch, stage, xv, yv, every):
    lg = nn.value_and_grad(model, mse)
    ema, beta = 0.0, 0.98
    n = len(x); perm = rng.permutation(n); cur = 0
    row(stage, 0, float(opt.learning_rate), None, rmse(model, xv, yv))
    for step in range(1, steps + 1):
        if cur + batch > n:
            perm = rng.permutation(n); cur = 0
        idx = mx.array(perm[cur:cur + batch]); cur += batch
        lr_now = float(opt.learning_rate)
        loss, grads = lg(model, x[idx], y[idx])
        if step == 1:
            leaves = tree_flatten(grads)
            zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
            print(f"  ({stage}: {len(leaves)} trainable gradient leaves {[k for k, _ in leaves]}, "
                  f"zero: {zero or 'none'}, lr of this update {lr_now:.1e})")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        ema = beta * ema + (1 - beta) * loss.item()
        if step % every == 0:
            row(stage, step, float(opt.learning_rate), ema / (1 - beta ** step), rmse(model, xv, yv))


def main():
    xp, yp = farms(20000); xpv, ypv = farms(2000)
    mu, sd = xp.mean(0), xp.std(0)
    norm = lambda a: mx.array((a - mu) / sd)
    xs, ys, xsv, ysv = norm(xp), mx.array(yp), norm(xpv), mx.array(ypv)
    # the new site: warmer, richer water, only 600 labelled days
    xn, yn = farms(600, site_shift=0.35); xnv, ynv = farms(2000, site_shift=0.35)
    xn, yn, xnv, ynv = norm(xn), mx.array(yn), norm(xnv), mx.array(ynv)

    model = Grower(); mx.eval(model.parameters())
    print(f"features: {', '.join(NAMES)}; noise floor RMSE 0.120 cm/day")
    rule()
    print(f"{'stage':<9}{'step':>7}{'lr':>12}{'train_mse*':>14}{'val_rmse':>14}")
    rule("-")
    t0 = time.time()
    warm = optim.linear_schedule(0.0, 2e-3, 200)
    sched = optim.join_schedules([warm, optim.cosine_decay(2e-3, 2800, 1e-5)], [200])
    train(model, optim.Adam(learning_rate=sched), xs, ys, 3000, 128, "pooled", xsv, ysv, 500)
    print(f"  (pooled stage {time.time() - t0:.1f}s; new-site val RMSE before refit {rmse(model, xnv, ynv):.4f})")

    body_before = tree_map(lambda a: mx.array(a), model.body.parameters())
    model.body.freeze()
    model.head = nn.Linear(64, 1)
    mx.eval(model.parameters())
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"  (body frozen; {n_train} trainable weights in the new head)")
    rule("-")
    hw = optim.linear_schedule(0.0, 5e-3, 100)
    hs = optim.join_schedules([hw, optim.cosine_decay(5e-3, 1400, 1e-5)], [100])
    train(model, optim.Adam(learning_rate=hs), xn, yn, 1500, 32, "new_site", xnv, ynv, 250)
    rule()
    drift = max(float(mx.abs(a - b).max()) for (_, a), (_, b) in
                zip(tree_flatten(model.body.parameters()), tree_flatten(body_before)))
    print(f"train_mse* = bias-corrected EMA (beta 0.98) of the minibatch MSE, (cm/day)^2; val_rmse in cm/day, lower is better")
    print(f"frozen body max change {drift:.1f}; total {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
