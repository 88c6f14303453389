"""Bonsai nursery: predict next-morning soil moisture (%) of a pot from today's readings.

Species enter through a fixed (frozen) embedding table: the codes are an agreed
orthonormal basis shared with the irrigation controller, so they must not move.
Lion optimiser, early stopping on validation MAE that restores the best weights.
Per-epoch metrics are written as CSV rows (csv.DictWriter on stdout).
"""
import csv
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

N_SPECIES = 6


def make_pots(n, rng):
    species = rng.integers(0, N_SPECIES, n)
    pot_vol = rng.uniform(0.3, 4.0, n)          # litres
    moist_now = rng.uniform(15, 60, n)          # %
    temp = rng.normal(22, 5, n)                 # C
    humid = rng.uniform(25, 90, n)              # %
    sun_h = rng.uniform(0, 10, n)               # hours
    watered = rng.integers(0, 2, n).astype(np.float64)
    thirst = np.array([1.0, 1.4, 0.7, 1.1, 1.8, 0.9])[species]
    evap = thirst * (0.25 * np.maximum(temp - 5, 0) + 0.6 * sun_h) * (1.3 - humid / 100)
    evap = evap / np.sqrt(pot_vol)
    y = moist_now - evap + watered * (70 - moist_now) * 0.6
    y = np.clip(y + rng.normal(0, 1.2, n), 2, 95)
    X = np.stack([np.log(pot_vol), moist_now, temp, humid, sun_h, watered], 1)
    return species.astype(np.int32), X.astype(np.float32), y.astype(np.float32)


class PotNet(nn.Module):
    def __init__(self, n_num, hidden=64):
        super().__init__()
        self.species = nn.Embedding(N_SPECIES, N_SPECIES)
        self.body = nn.Sequential(nn.Linear(n_num + N_SPECIES, hidden), nn.GELU(),
                                  nn.Linear(hidden, hidden), nn.GELU())
        self.out = nn.Linear(hidden, 1)

    def __call__(self, sp, x):
        h = mx.concatenate([self.species(sp), x], axis=-1)
        return self.out(self.body(h)).squeeze(-1)


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    sp_tr, X_tr, y_tr = make_pots(9000, rng)
    sp_va, X_va, y_va = make_pots(1500, rng)
    mu, sd = X_tr.mean(0), X_tr.std(0)
    ymu, ysd = float(y_tr.mean()), float(y_tr.std())
    X_tr, X_va = (X_tr - mu) / sd, (X_va - mu) / sd
    Xt, St, Yt = mx.array(X_tr), mx.array(sp_tr), mx.array((y_tr - ymu) / ysd)
    Xv, Sv = mx.array(X_va), mx.array(sp_va)

    model = PotNet(X_tr.shape[1])
    model.species.weight = mx.eye(N_SPECIES)   # agreed controller codes
    model.species.freeze()
    opt = optim.Lion(learning_rate=3e-4, weight_decay=1e-3)

    def loss_fn(m, s, x, y):
        return nn.losses.mse_loss(m(s, x), y)

    loss_and_grad = nn.value_and_grad(model, loss_fn)

    def val_mae():
        pred = model(Sv, Xv) * ysd + ymu
        return float(mx.mean(mx.abs(pred - mx.array(y_va))))

    frozen_before = np.array(model.species.weight)
    _, g0 = loss_and_grad(model, St[:128], Xt[:128], Yt[:128])
    leaves = tree_flatten(g0)
    zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
    print(f"# trainable leaves {len(leaves)} zero-grad leaves {zero} "
          f"(species table frozen: {'species.weight' not in dict(leaves)})", flush=True)
    print(f"# predict-mean val MAE {float(np.mean(np.abs(y_va - ymu))):.2f} pts, "
          f"reading noise 1.2 pts", flush=True)

    writer = csv.DictWriter(sys.stdout, fieldnames=[
        "epoch", "train_mse_std", "val_mae_pts", "best_val_mae_pts", "bad_epochs", "secs"])
    writer.writeheader()
    writer.writerow(dict(epoch=0, train_mse_std="", val_mae_pts=f"{val_mae():.3f}",
                         best_val_mae_pts="", bad_epochs=0, secs="0.0"))

    best, best_w, bad, patience = float("inf"), None, 0, 4
    bs, n = 64, Xt.shape[0]
    t0 = time.time()
    for epoch in range(1, 41):
        perm = mx.array(rng.permutation(n))
        tot, cnt = 0.0, 0
        for i in range(0, n - bs + 1, bs):
            idx = perm[i:i + bs]
            loss, grads = loss_and_grad(model, St[idx], Xt[idx], Yt[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            cnt += 1
        mae = val_mae()
        if mae < best - 1e-3:
            best, bad = mae, 0
            best_w = tree_map(lambda a: mx.array(a), model.trainable_parameters())
            mx.eval(best_w)
        else:
            bad += 1
        writer.writerow(dict(epoch=epoch, train_mse_std=f"{tot / cnt:.4f}",
                             val_mae_pts=f"{mae:.3f}", best_val_mae_pts=f"{best:.3f}",
                             bad_epochs=bad, secs=f"{time.time() - t0:.1f}"))
        sys.stdout.flush()
        if bad >= patience:
            print(f"# early stop after epoch {epoch}", flush=True)
            break
    model.update(best_w)
    mx.eval(model.parameters())
    drift = float(np.abs(np.array(model.species.weight) - frozen_before).max())
    print(f"# restored best weights: val MAE {val_mae():.3f} pts "
          f"(best seen {best:.3f}); frozen species table max change {drift}")


if __name__ == "__main__":
    main()
