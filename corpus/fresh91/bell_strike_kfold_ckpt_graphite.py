"""Bell foundry: predict a cast bell's strike-note frequency from its pattern.

Deep residual MLP whose blocks run under gradient checkpointing
(nn.utils.checkpoint), evaluated by 4-fold cross-validation: each fold is
trained from scratch with its own seed. Metrics are emitted in the Graphite
plaintext protocol ("path value timestamp"), one metric per line, so they
can be piped straight into carbon.  Error is in musical CENTS (lower = better).
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

PREFIX = "foundry.bells"
TS0 = int(time.time())


def emit(path, value, step=0):
    # fake a monotonically increasing timestamp so points do not collide
    print(f"{PREFIX}.{path} {value:.6f} {TS0 + step}")


def make_bells(n, rng):
    diameter = rng.uniform(25.0, 160.0, n)          # cm at the lip
    thick = rng.uniform(0.065, 0.095, n)            # lip thickness / diameter
    tin = rng.uniform(0.18, 0.26, n)                # tin fraction of bronze
    flare = rng.uniform(-1.0, 1.0, n)               # profile flare index
    temp = rng.uniform(-5.0, 35.0, n)               # deg C at tuning
    # made-up acoustic law: f ~ thickness / diameter, modulated by alloy etc.
    log2f = (np.log2(2.2e5 * thick / diameter)
             + 0.9 * (tin - 0.22)
             + 0.05 * np.tanh(2.0 * flare) * thick * 12.0
             - 0.0009 * (temp - 15.0)
             + 0.03 * np.sin(3.0 * flare))
    log2f = log2f + rng.normal(0.0, 6.0 / 1200.0, n)   # ~6 cents of casting noise
    X = np.stack([np.log(diameter), thick, tin, flare, temp], axis=1)
    return X.astype(np.float32), log2f.astype(np.float32)


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 2 * d)
        self.fc2 = nn.Linear(2 * d, d)

    def __call__(self, x):
        return x + self.fc2(nn.silu(self.fc1(self.norm(x))))


class BellNet(nn.Module):
    def __init__(self, d_in, d=48, depth=6):
        super().__init__()
        self.inp = nn.Linear(d_in, d)
        self.blocks = [Block(d) for _ in range(depth)]
        self.out = nn.Linear(d, 1)

    def __call__(self, x):
        h = self.inp(x)
        for blk in self.blocks:
            # recompute each block's activations in the backward pass
            h = nn.utils.checkpoint(blk)(h)
        return self.out(h).squeeze(-1)


def run_fold(k, Xtr, ytr, Xva, yva, cfg, step_offset):
    mx.random.seed(100 + k)
    rng = np.random.default_rng(200 + k)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    ymu, ysd = float(ytr.mean()), float(ytr.std())
    Xt = mx.array((Xtr - mu) / sd)
    yt = mx.array((ytr - ymu) / ysd)
    Xv = mx.array((Xva - mu) / sd)

    model = BellNet(Xtr.shape[1])
    steps_per_epoch = len(Xtr) // cfg["bs"]
    sched = optim.cosine_decay(cfg["lr"], steps_per_epoch * cfg["epochs"], 1e-5)
    opt = optim.Adam(learning_rate=sched)

    def loss_fn(m, xb, yb):
        return nn.losses.mse_loss(m(xb), yb)

    vg = nn.value_and_grad(model, loss_fn)

    def val_cents():
        pred = np.array(model(Xv)) * ysd + ymu
        return float(np.mean(np.abs(pred - yva)) * 1200.0)

    emit(f"fold{k}.epoch.val_mae_cents", val_cents(), step_offset)
    step = 0
    for ep in range(1, cfg["epochs"] + 1):
        perm = rng.permutation(len(Xtr))
        tot = 0.0
        for i in range(steps_per_epoch):
            idx = mx.array(perm[i * cfg["bs"]:(i + 1) * cfg["bs"]])
            loss, grads = vg(model, Xt[idx], yt[idx])
            if k == 1 and step == 0:
                flat = tree_flatten(grads)
                zero = [p for p, g in flat if float(mx.abs(g).max()) == 0.0]
                emit("fold1.gradcheck.leaves", len(flat), step_offset)
                emit("fold1.gradcheck.zero_leaves", len(zero), step_offset)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            step += 1
        emit(f"fold{k}.epoch.train_mse_std", tot / steps_per_epoch, step_offset + step)
        emit(f"fold{k}.epoch.val_mae_cents", val_cents(), step_offset + step)
    return val_cents(), step


def main():
    cfg = {"bs": 64, "lr": 2e-3, "epochs": 6, "folds": 4}
    rng = np.random.default_rng(7)
    X, y = make_bells(4800, rng)
    order = rng.permutation(len(X))
    folds = np.array_split(order, cfg["folds"])
    naive = float(np.mean(np.abs(y - y.mean())) * 1200.0)
    emit("data.bells", len(X))
    emit("data.predict_mean_mae_cents", naive)
    emit("data.noise_floor_mae_cents", 6.0 * math.sqrt(2.0 / math.pi))
    t0 = time.perf_counter()
    scores, offset = [], 0
    for k in range(1, cfg["folds"] + 1):
        va = folds[k - 1]
        tr = np.concatenate([f for j, f in enumerate(folds) if j != k - 1])
        s, n = run_fold(k, X[tr], y[tr], X[va], y[va], cfg, offset)
        offset += n
        scores.append(s)
        emit(f"fold{k}.final.val_mae_cents", s, offset)
    emit("cv.mean_val_mae_cents", float(np.mean(scores)), offset)
    emit("cv.std_val_mae_cents", float(np.std(scores)), offset)
    emit("cv.wall_seconds", time.perf_counter() - t0, offset)


if __name__ == "__main__":
    main()
