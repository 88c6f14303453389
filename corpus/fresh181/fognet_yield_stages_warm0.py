"""Fog-net water harvesting: predict litres collected per m2 of mesh per fog night.

Two-stage curriculum: first only calm, head-on nights, then every night
(gusty / oblique / dry-air nights included).  Each stage restarts its own
step counter and its own LR schedule (linear warm-up from exactly 0, then
cosine back to 0).  Validation is always on the full mixed night set.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


def simulate_nights(n, rng):
    lwc = rng.gamma(2.0, 0.08, n)                 # g/m3 liquid water content
    wind = rng.uniform(0.5, 12.0, n)              # m/s
    angle = rng.uniform(-80.0, 80.0, n)           # deg off the mesh normal
    shade = rng.uniform(0.35, 0.75, n)            # mesh shade coefficient
    hours = rng.uniform(1.0, 12.0, n)             # hours of fog
    spread = rng.uniform(0.0, 3.0, n)             # T - Td, deg C
    # made-up collection law: impaction saturates with wind, mesh optimum at
    # shade ~0.55, strong wind re-entrains droplets, dry air evaporates them
    impact = 1.0 - np.exp(-wind / 3.0)
    mesh = np.exp(-((shade - 0.55) / 0.18) ** 2)
    reentrain = 1.0 / (1.0 + np.exp((wind - 8.5) / 0.8))
    flux = lwc * wind * np.cos(np.radians(angle)) * 3.6  # L/m2/h through area
    yield_l = flux * 0.25 * impact * mesh * (0.35 + 0.65 * reentrain) * hours
    yield_l *= np.exp(-0.25 * spread)
    yield_l *= np.exp(rng.normal(0.0, 0.05, n))
    X = np.stack([lwc, wind, np.cos(np.radians(angle)), shade, hours, spread], 1)
    calm = (wind < 6.0) & (np.abs(angle) < 40.0) & (spread < 1.5)
    return X.astype(np.float32), yield_l.astype(np.float32), calm


class YieldNet(nn.Module):
    def __init__(self, d_in=6, width=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1)


def main():
    rng = np.random.default_rng(181)
    mx.random.seed(181)
    X, y, calm = simulate_nights(9000, rng)
    tr, va, te = slice(0, 6500), slice(6500, 7750), slice(7750, 9000)
    mu, sd = X[tr].mean(0), X[tr].std(0)
    Xs = (X - mu) / sd
    y_mu, y_sd = float(y[tr].mean()), float(y[tr].std())
    ys = (y - y_mu) / y_sd

    Xtr, ytr, calm_tr = Xs[tr], ys[tr], calm[tr]
    Xva, yva = mx.array(Xs[va]), mx.array(ys[va])
    Xte, yte = mx.array(Xs[te]), mx.array(ys[te])
    clim_rmse_va = float(np.sqrt(np.mean((y[va] - y_mu) ** 2)))
    clim_rmse_te = float(np.sqrt(np.mean((y[te] - y_mu) ** 2)))

    model = YieldNet()
    mx.eval(model.parameters())

    def loss_fn(m, xb, yb):
        return nn.losses.mse_loss(m(xb), yb)

    loss_and_grad = nn.value_and_grad(model, loss_fn)

    stages = [("calm", np.where(calm_tr)[0], 600, 3e-3),
              ("all", np.arange(len(ytr)), 900, 2e-3)]
    print(f"nights: train {len(ytr)} (calm {int(calm_tr.sum())}), val {yva.size}, "
          f"test {yte.size}; mean yield {y_mu:.2f} L/m2")
    print(f"{'stage':<6}|{'step':>6} |{'lr':>10} |{'batch rmse':>11} |{'val rmse':>9} "
          f"|{'clim rmse':>10} |{'skill':>7}")
    print("-" * 70)
    t0 = time.time()
    batch = 128
    for name, idx, n_steps, peak in stages:
        warm = 80
        sched = optim.join_schedules(
            [optim.linear_schedule(0.0, peak, warm),
             optim.cosine_decay(peak, n_steps - warm, 0.0)], [warm])
        opt = optim.Adamax(learning_rate=sched)
        run = []
        for step in range(n_steps):
            b = rng.choice(idx, batch, replace=False)
            lr_now = float(opt.learning_rate) if step else 0.0
            loss, grads = loss_and_grad(model, mx.array(Xtr[b]), mx.array(ytr[b]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run.append(loss.item())
            if step % 100 == 0 or step == n_steps - 1:
                val = loss_fn(model, Xva, yva).item()
                b_rmse = math.sqrt(np.mean(run[-20:])) * y_sd
                v_rmse = math.sqrt(val) * y_sd
                skill = 100.0 * (1.0 - v_rmse / clim_rmse_va)
                print(f"{name:<6}|{step:>6} |{lr_now:>10.2e} |{b_rmse:>6.3f} L/m2 "
                      f"|{v_rmse:>9.3f} |{clim_rmse_va:>10.3f} |{skill:>6.1f}%")
        print("-" * 70)

    # audit: every trainable tensor still receives gradient at the end
    _, grads = loss_and_grad(model, Xte, yte)
    gnorms = {k: float(mx.linalg.norm(v)) for k, v in tree_flatten(grads)}
    zero = [k for k, g in gnorms.items() if g == 0.0]
    test_rmse = math.sqrt(loss_fn(model, Xte, yte).item()) * y_sd
    pred = np.array(model(Xte)) * y_sd + y_mu
    mae = float(np.mean(np.abs(pred - y[te])))
    print(f"grad audit: {len(gnorms)} tensors, min |g| {min(gnorms.values()):.2e}, zero: {zero or 'none'}")
    print(f"test  rmse {test_rmse:.3f} L/m2  mae {mae:.3f} L/m2  "
          f"(climatology rmse {clim_rmse_te:.3f}) skill {100*(1-test_rmse/clim_rmse_te):.1f}%  "
          f"[{time.time()-t0:.1f}s]")


if __name__ == "__main__":
    main()
