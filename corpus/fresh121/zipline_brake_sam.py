"""Zipline park: predict trolley arrival speed at the brake block (m/s).

Trained with sharpness-aware minimisation (SAM): each step takes the gradient,
climbs rho along its direction, takes the gradient there, steps back and lets
Adam apply the second gradient.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map


def make_rides(n, rng):
    length = rng.uniform(80, 420, n)          # m
    drop = rng.uniform(8, 60, n)              # m
    mass = rng.uniform(35, 120, n)            # kg
    headwind = rng.normal(0, 3, n)            # m/s
    wear = rng.uniform(0, 1, n)               # trolley wheel wear
    temp = rng.uniform(-2, 32, n)             # C
    v_free = np.sqrt(2 * 9.81 * drop)
    friction = (0.35 + 0.25 * wear) * np.sqrt(length / 100.0) * (1 + 0.004 * (15 - temp))
    drag = 0.9 * headwind * (1 - 0.3 * np.tanh((mass - 70) / 30))
    v = 0.55 * v_free - friction * 1.2 - drag + 0.015 * (mass - 70)
    v = np.maximum(v, 1.0) + rng.normal(0, 0.35, n)
    X = np.stack([length / 100, drop / 20, mass / 50, headwind / 3, wear, temp / 10], 1)
    return X.astype(np.float32), v.astype(np.float32)


class SpeedNet(nn.Module):
    def __init__(self, d_in=6, hidden=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def global_norm(tree):
    return mx.sqrt(sum((g * g).sum() for _, g in tree_flatten(tree)))


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    Xtr, ytr = make_rides(9000, rng)
    Xva, yva = make_rides(1500, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
    ym, ys = ytr.mean(), ytr.std()
    Xtr_m, Xva_m = mx.array(Xtr), mx.array(Xva)
    ztr = mx.array((ytr - ym) / ys)

    model = SpeedNet()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=1.5e-3)
    vg = nn.value_and_grad(model, loss_fn)
    rho = 0.05
    bs, epochs = 96, 8

    print("zipline speed model, %d train rides / %d held out, target sd %.2f m/s"
          % (len(ytr), len(yva), ys))
    base = float(np.sqrt(np.mean((yva - ym) ** 2)))
    print("always-predict-the-mean baseline: rmse %.3f m/s" % base)

    # gradient audit on one batch
    _, g0 = vg(model, Xtr_m[:bs], ztr[:bs])
    leaves = tree_flatten(g0)
    dead = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
    print("gradient audit: %d leaves, all-zero: %s" % (len(leaves), dead or "none"))

    t0 = time.time()
    steps = 0
    for epoch in range(1, epochs + 1):
        perm = rng.permutation(len(ytr))
        run_sum, run_n = 0.0, 0
        for i in range(0, len(perm) - bs + 1, bs):
            idx = mx.array(perm[i:i + bs])
            xb, yb = Xtr_m[idx], ztr[idx]
            params = model.trainable_parameters()
            loss, g = vg(model, xb, yb)
            scale = rho / (global_norm(g) + 1e-12)
            model.update(tree_map(lambda p, gi: p + scale * gi, params, g))
            _, g_sharp = vg(model, xb, yb)
            model.update(params)               # back to the unperturbed point
            opt.update(model, g_sharp)
            mx.eval(model.parameters(), opt.state, loss)
            run_sum += loss.item()
            run_n += 1
            steps += 1
        pred = np.array(model(Xva_m)) * ys + ym
        err = np.abs(pred - yva)
        rmse = float(np.sqrt(np.mean(err ** 2)))
        within = 100.0 * float(np.mean(err < 0.5))
        over = 100.0 * float(np.mean((yva > 9.0) & (pred <= 9.0))) / max(1e-9, float(np.mean(yva > 9.0)))
        print("epoch %d ; steps %d ; train mse (std units) %.4f ; val rmse %.3f m/s ; "
              "within 0.5 m/s %.1f%% ; fast rides missed %.1f%% ; %.1fs"
              % (epoch, steps, run_sum / run_n, rmse, within, over, time.time() - t0))
    print("done after %d SAM steps (two gradients each)" % steps)


if __name__ == "__main__":
    main()
