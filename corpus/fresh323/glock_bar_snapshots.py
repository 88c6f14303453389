# Glockenspiel workshop: predict the ring time (T60, seconds) of a tuned bar
# from bar dimensions, alloy, felt mounting and strike position.  Cosine learning rate with warm
# restarts (three cycles); a weight snapshot is taken at the end of each cycle
# and the final prediction averages the snapshots.  Training loss jumps up at
# every restart on purpose.  Progress is printed as Markdown table rows.
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten


def make_bars(n, rng):
    length = rng.uniform(60, 180, n)         # bar length (mm)
    width = rng.uniform(20, 32, n)           # bar width (mm)
    thick = rng.uniform(6, 12, n)            # bar thickness (mm)
    alloy = rng.integers(0, 3, n)            # 0 steel, 1 aluminium, 2 bell bronze
    felt = rng.uniform(20, 80, n)            # felt hardness (shore A)
    strike = rng.uniform(0.30, 0.50, n)      # strike point as a fraction of length
    loss = np.array([1.0, 1.6, 0.7])[alloy]
    t60 = (1.8 * (thick / 9) ** 0.8 * (length / 120) ** 0.6 / loss
           * (1 - 0.006 * (felt - 50)) * (1 - 2.5 * (strike - 0.40) ** 2) * (width / 26) ** 0.2)
    t60 = t60 * np.exp(rng.normal(0, 0.05, n))
    x = np.stack([(length - 120) / 35, (width - 26) / 3.5, (thick - 9) / 1.7, alloy == 0, alloy == 1,
                  alloy == 2, (felt - 50) / 17, (strike - 0.40) / 0.058], axis=1).astype(np.float32)
    return x, t60.astype(np.float32)


class BarNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(8, 96), nn.Linear(96, 96), nn.Linear(96, 1)]

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = nn.silu(layer(x))
        return self.layers[-1](x).squeeze(-1)


def rmse(pred, y):
    return float(mx.sqrt(mx.mean((pred - y) ** 2)).item())


def main():
    t0 = time.time()
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    xtr, ytr = make_bars(5000, rng)
    xva, yva = make_bars(1000, rng)
    xte, yte = make_bars(1000, rng)
    mu, sd = float(ytr.mean()), float(ytr.std())
    Xtr, Ytr = mx.array(xtr), mx.array((ytr - mu) / sd)
    Xva, Yva_s = mx.array(xva), mx.array(yva)
    Xte, Yte_s = mx.array(xte), mx.array(yte)

    # baselines on the test set: constant mean, ordinary least squares
    A = np.c_[xtr, np.ones(len(xtr))]
    coef, *_ = np.linalg.lstsq(A, ytr, rcond=None)
    ols_te = np.c_[xte, np.ones(len(xte))] @ coef
    base_mean = float(np.sqrt(np.mean((yte - mu) ** 2)))
    base_ols = float(np.sqrt(np.mean((yte - ols_te) ** 2)))

    model = BarNet()
    mx.eval(model.parameters())
    steps_per_epoch, cycle_epochs = 5000 // 100, [6, 6, 6]
    sched = optim.join_schedules(
        [optim.cosine_decay(2e-3, e * steps_per_epoch, 1e-5) for e in cycle_epochs],
        list(np.cumsum([e * steps_per_epoch for e in cycle_epochs[:-1]])))
    opt = optim.Adam(learning_rate=sched)

    def loss_fn(m, x, y):
        return nn.losses.mse_loss(m(x), y)

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    snapshots = []
    print(f"| baseline | test RMSE s | | mean {base_mean:.3f} | OLS {base_ols:.3f} | noise 5 % (log) |")
    print("| cycle | epoch | lr (end) | train mse (std units) | val RMSE s | note |")
    print("|---|---|---|---|---|---|")
    epoch = 0
    for c, n_ep in enumerate(cycle_epochs, start=1):
        for _ in range(n_ep):
            epoch += 1
            perm = mx.array(rng.permutation(5000))
            tot = 0.0
            for i in range(0, 5000, 100):
                idx = perm[i:i + 100]
                loss, grads = loss_and_grad(model, Xtr[idx], Ytr[idx])
                opt.update(model, grads)
                mx.eval(model.parameters(), opt.state, loss)
                tot += loss.item()
            val = rmse(model(Xva) * sd + mu, Yva_s)
            note = ""
            if epoch == sum(cycle_epochs[:c]):
                snapshots.append(dict(tree_flatten(model.parameters())))
                note = f"snapshot {len(snapshots)}"
            print(f"| {c} | {epoch} | {opt.learning_rate.item():.2e} | {tot / steps_per_epoch:.4f} "
                  f"| {val:.3f} | {note} |")

    preds = []
    for k, snap in enumerate(snapshots, start=1):
        model.load_weights(list(snap.items()))
        p = model(Xte) * sd + mu
        preds.append(p)
        print(f"snapshot {k}: test RMSE {rmse(p, Yte_s):.3f} s")
    ens = mx.mean(mx.stack(preds), axis=0)
    e = rmse(ens, Yte_s)
    r2 = 100 * (1 - e ** 2 / base_mean ** 2)
    print(f"ensemble of {len(preds)}: test RMSE {e:.3f} s, R^2 {r2:.1f} % "
          f"(mean {base_mean:.3f}, OLS {base_ols:.3f}) [{time.time() - t0:.1f}s]")


if __name__ == "__main__":
    main()
