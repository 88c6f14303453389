"""Dimensional error of FDM 3D-printed test coupons, 4-fold cross-validation.

Each fold trains a fresh heteroscedastic regressor (a mean head and a
log-variance head on a shared trunk) with the Gaussian negative
log-likelihood, early-stops on the held-out fold and restores the best
weights before scoring it.  The target is standardised, so a good model
reaches a NEGATIVE NLL (nats per coupon).  The 90% interval coverage is
printed as a percentage; the ideal value is 90%, not 100%.
"""
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

FEATURES = ["nozzle_c", "bed_c", "speed_mm_s", "layer_mm", "infill_pct", "fan_pct", "moisture_pct"]
Z90 = 1.6448536


def simulate(n, rng):
    nozzle = rng.uniform(190.0, 240.0, n)
    bed = rng.uniform(45.0, 75.0, n)
    speed = rng.uniform(20.0, 120.0, n)
    layer = rng.choice([0.12, 0.16, 0.2, 0.28], n)
    infill = rng.uniform(10.0, 60.0, n)
    fan = rng.uniform(0.0, 100.0, n)
    moist = rng.gamma(2.0, 0.15, n)                    # filament moisture, % by mass
    # shrinkage grows with nozzle-bed mismatch and infill, over-extrusion with
    # hot nozzle and wet filament, ringing with speed; units: microns on a 20 mm coupon
    err = (40.0 * np.tanh((nozzle - bed - 150.0) / 40.0)
           + 0.9 * (infill - 30.0)
           + 180.0 * moist * (nozzle > 215)
           + 60.0 * (layer - 0.18) / 0.1
           - 0.25 * (fan - 50.0) * (layer > 0.15)
           + 0.004 * (speed - 60.0) ** 2)
    # fast prints are erratic: noise grows with speed
    noise_sd = 2.0 + 0.12 * speed
    err = err + rng.normal(0.0, 1.0, n) * noise_sd
    X = np.stack([nozzle, bed, speed, layer, infill, fan, moist], axis=1)
    return X.astype(np.float32), err.astype(np.float32)


class CouponNet(nn.Module):
    def __init__(self, d_in, hidden=48):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(d_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU())
        self.mu = nn.Linear(hidden, 1)
        self.log_var = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.mu(h).squeeze(-1), mx.clip(self.log_var(h).squeeze(-1), -9.0, 5.0)


def gaussian_nll(model, x, y):
    mu, lv = model(x)
    return 0.5 * (lv + (y - mu) ** 2 * mx.exp(-lv) + math.log(2 * math.pi)).mean()


def score(model, x, y):
    mu, lv = model(x)
    sd = mx.exp(0.5 * lv)
    nll = gaussian_nll(model, x, y)
    cover = (mx.abs(y - mu) <= Z90 * sd).mean()
    rmse = mx.sqrt(((y - mu) ** 2).mean())
    mx.eval(nll, cover, rmse)
    return nll.item(), 100.0 * cover.item(), rmse.item()


def run_fold(k, Xtr, ytr, Xva, yva, seed, max_epochs=200, patience=15, batch=128, verbose=False):
    # standardise with statistics of the training folds only
    xm, xs = Xtr.mean(0), Xtr.std(0) + 1e-6
    ym, ys = ytr.mean(), ytr.std()
    xt, yt = mx.array((Xtr - xm) / xs), mx.array((ytr - ym) / ys)
    xv, yv = mx.array((Xva - xm) / xs), mx.array((yva - ym) / ys)

    mx.random.seed(seed)
    model = CouponNet(xt.shape[1])
    opt = optim.Adagrad(learning_rate=0.05)
    opt.init(model.trainable_parameters())
    vg = nn.value_and_grad(model, gaussian_nll)

    if k == 0:
        _, g = vg(model, xt[:batch], yt[:batch])
        flat = tree_flatten(g)
        nz = sum(1 for _, v in flat if mx.any(v != 0).item())
        print(f"  grad check: {nz}/{len(flat)} parameter arrays have a non-zero gradient at step 1")
        assert nz == len(flat)

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, g = vg(model, x, y)
        opt.update(model, g)
        return loss

    rng = np.random.default_rng(seed)
    n = xt.shape[0]
    best = (float("inf"), -1, None)
    for epoch in range(1, max_epochs + 1):
        perm = mx.array(rng.permutation(n))
        tot, nb = 0.0, 0
        for i in range(0, n - batch + 1, batch):       # drop the ragged tail, reshuffled each epoch
            idx = perm[i:i + batch]
            loss = step(xt[idx], yt[idx])
            mx.eval(state, loss)
            tot += loss.item()
            nb += 1
        v_nll, v_cov, v_rmse = score(model, xv, yv)
        if v_nll < best[0]:
            best = (v_nll, epoch, tree_map(lambda a: a, model.parameters()))
        if verbose and epoch % 10 == 0:
            print(f"  fold {k+1} epoch {epoch:3d}: train_nll {tot/nb:+.3f}  val_nll {v_nll:+.3f}  "
                  f"val_cover90 {v_cov:5.1f}%  val_rmse {v_rmse*ys:.1f} um")
        if epoch - best[1] >= patience:
            break

    model.update(best[2])
    v_nll, v_cov, v_rmse = score(model, xv, yv)
    return dict(fold=k + 1, stopped=epoch, best_epoch=best[1], val_nll=v_nll,
                cover90=v_cov, rmse_um=v_rmse * ys, const_rmse=float(yva.std()))


def main():
    t0 = time.perf_counter()
    rng = np.random.default_rng(2024)
    X, y = simulate(2400, rng)
    print(f"{len(y)} coupons, dimensional error {y.mean():+.1f} +/- {y.std():.1f} um; features: {', '.join(FEATURES)}")
    folds = np.array_split(rng.permutation(len(y)), 4)
    results = []
    for k in range(4):
        va = folds[k]
        tr = np.concatenate([folds[j] for j in range(4) if j != k])
        r = run_fold(k, X[tr], y[tr], X[va], y[va], seed=100 + k, verbose=(k == 0))
        results.append(r)
        print(f"fold {r['fold']}: stopped at epoch {r['stopped']}, restored epoch {r['best_epoch']}; "
              f"val_nll {r['val_nll']:+.3f} nats/coupon (standardised), 90% interval covers {r['cover90']:.1f}%, "
              f"rmse {r['rmse_um']:.1f} um (predict-the-mean: {r['const_rmse']:.1f})")
    nll = np.array([r["val_nll"] for r in results])
    cov = np.array([r["cover90"] for r in results])
    rmse = np.array([r["rmse_um"] for r in results])
    print(f"CV summary: val_nll {nll.mean():+.3f} +/- {nll.std():.3f}  cover90 {cov.mean():.1f}% "
          f"(target 90%)  rmse {rmse.mean():.1f} um  [{time.perf_counter()-t0:.1f}s]")


if __name__ == "__main__":
    main()
