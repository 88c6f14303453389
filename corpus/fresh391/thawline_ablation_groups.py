"""Lake ice-out day-of-year: which input groups matter? Small ablation grid, two seeds per arm."""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

GROUPS = {
    "winter": ["djf_temp", "march_temp", "snow_cm", "april_sun_h"],
    "lake": ["depth_m", "area_km2", "elev_m", "inflow"],
}


def make_lakes(n, rng):
    djf = rng.normal(-8, 4, n)
    mar = rng.normal(-1, 3, n)
    snow = rng.gamma(3, 20, n)
    sun = rng.normal(180, 30, n)
    depth = rng.lognormal(2.3, 0.6, n)
    area = rng.lognormal(1.0, 1.0, n)
    elev = rng.uniform(100, 900, n)
    inflow = rng.uniform(0, 1, n)
    doy = (112 - 1.6 * djf - 2.2 * mar + 0.08 * snow - 0.05 * (sun - 180)
           + 4.0 * np.log(depth) + 2.0 * np.log1p(area) + 0.012 * elev - 5.0 * inflow
           + 0.10 * djf * np.log(depth))
    doy = doy + rng.normal(scale=3.0, size=n)
    x = np.column_stack([djf, mar, snow, sun, depth, area, elev, inflow]).astype(np.float32)
    return x, doy.astype(np.float32)


class IceNet(nn.Module):
    def __init__(self, d_in):
        super().__init__()
        self.l1 = nn.Linear(d_in, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(nn.relu(self.l2(nn.relu(self.l1(x))))).squeeze(-1)


def train_arm(arm, cols, lr, seed, xtr, ytr, xva, yva, y_sd, steps=700, batch=64):
    mx.random.seed(seed)
    rng = np.random.default_rng(seed)
    xtr_m, ytr_m = mx.array(xtr[:, cols]), mx.array(ytr)
    xva_m, yva_m = mx.array(xva[:, cols]), mx.array(yva)
    model = IceNet(len(cols))
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=lr)

    def loss_fn(m, x, y):
        return nn.losses.huber_loss(m(x), y, delta=1.0, reduction="mean")

    vg = nn.value_and_grad(model, loss_fn)
    t0 = time.perf_counter()
    print(f"::group::arm={arm} seed={seed} inputs={len(cols)} lr={lr:g}")
    for step in range(1, steps + 1):
        idx = mx.array(rng.integers(0, len(ytr), size=batch))
        loss, grads = vg(model, xtr_m[idx], ytr_m[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step == 1 or step % 175 == 0:
            mae = mx.mean(mx.abs(model(xva_m) - yva_m)).item() * y_sd
            print(f"  step {step:4d}  huber {loss.item():.4f}  valid_mae_days {mae:6.2f}")
    mae = mx.mean(mx.abs(model(xva_m) - yva_m)).item() * y_sd
    print("::endgroup::")
    print(f"::notice title={arm}/s{seed}::valid_mae_days={mae:.2f} in {time.perf_counter() - t0:.1f}s")
    return mae


def main():
    rng = np.random.default_rng(5)
    xtr, ytr = make_lakes(5000, rng)
    xva, yva = make_lakes(1500, rng)
    mu, sd = xtr.mean(0), xtr.std(0)
    xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
    y_mu, y_sd = float(ytr.mean()), float(ytr.std())
    ytr, yva = (ytr - y_mu) / y_sd, (yva - y_mu) / y_sd
    names = GROUPS["winter"] + GROUPS["lake"]
    w_cols = [names.index(c) for c in GROUPS["winter"]]
    l_cols = [names.index(c) for c in GROUPS["lake"]]
    print(f"lakes: train {len(ytr)} valid {len(yva)}; ice-out mean day {y_mu:.1f}, sd {y_sd:.1f} days")
    print(f"reference: predict-the-mean valid_mae_days {np.mean(np.abs(yva)) * y_sd:.2f}; noise floor ~2.39 (sd 3.0)")
    arms = [
        ("all_inputs", w_cols + l_cols, 2e-3),
        ("winter_only", w_cols, 2e-3),
        ("lake_only", l_cols, 2e-3),
        ("untrained_reference", w_cols + l_cols, 0.0),
    ]
    results = {}
    for arm, cols, lr in arms:
        for seed in (1, 2):
            results.setdefault(arm, []).append(train_arm(arm, cols, lr, seed, xtr, ytr, xva, yva, y_sd))
    print("::group::ablation summary (valid MAE in days, lower is better)")
    base = np.mean(results["all_inputs"])
    for arm, vals in results.items():
        print(f"  {arm:<20s} seeds {vals[0]:6.2f} {vals[1]:6.2f}  mean {np.mean(vals):6.2f}  vs all_inputs {np.mean(vals) - base:+6.2f}")
    print("::endgroup::")


if __name__ == "__main__":
    main()
