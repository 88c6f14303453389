"""Ringing-station body mass model: feature-group ablation study.

Every run is a fresh model with its own seed; the step counter starts at 0 for
each run.  Run 'none' masks every input to zero: it can only learn the mean,
so its loss stays at the target variance and its first layer never receives
a gradient.  That run is the floor the other runs are compared against.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

COLUMNS = ["wing_mm", "tarsus_mm", "fat_score", "muscle_score", "hour", "season_day"]
GROUPS = {"size": [0, 1], "condition": [2, 3], "timing": [4, 5]}


def make_birds(n, rng):
    wing = rng.normal(66.0, 2.2, n)
    tarsus = rng.normal(21.5, 0.7, n) + 0.12 * (wing - 66.0)
    fat = np.clip(np.round(rng.gamma(2.0, 1.1, n)), 0, 8)
    muscle = np.clip(np.round(rng.normal(2.0, 0.7, n) + 0.15 * fat), 0, 3)
    hour = rng.uniform(5.0, 13.0, n)
    day = rng.integers(0, 60, n).astype(float)
    # made-up mass law (grams): structural size, fuel load, a morning feeding gain
    mass = (11.2 + 0.19 * (wing - 66.0) + 0.35 * (tarsus - 21.5) + 0.42 * fat
            + 0.30 * muscle + 0.06 * (hour - 5.0) + 0.012 * day + 0.05 * fat * (day / 60.0))
    mass = mass + rng.normal(0.0, 0.25, n)
    x = np.stack([wing, tarsus, fat, muscle, hour, day], 1).astype(np.float32)
    return x, mass.astype(np.float32)


class MassNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(6, 40)
        self.hid = nn.Linear(40, 40)
        self.out = nn.Linear(40, 1)

    def __call__(self, x):
        h = nn.relu(self.inp(x))
        h = nn.relu(self.hid(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def run_ablation(name, keep_cols, seed, Xtr, Ytr, Xva, Yva, y_sd, steps=1500, batch=96):
    mask = np.zeros(6, np.float32)
    mask[keep_cols] = 1.0
    m = mx.array(mask)
    mx.random.seed(seed)
    model = MassNet()
    opt = optim.AdamW(learning_rate=optim.cosine_decay(2e-3, steps, 5e-5), weight_decay=1e-4)
    lag = nn.value_and_grad(model, loss_fn)
    rng = np.random.default_rng(seed)
    w0 = np.array(model.inp.weight)
    lines = []
    window = []
    t0 = time.perf_counter()
    for step in range(steps):
        idx = mx.array(rng.integers(0, Xtr.shape[0], batch))
        loss, grads = lag(model, Xtr[idx] * m, Ytr[idx])
        if step == 0:
            g = np.abs(np.array(grads["inp"]["weight"]))
            used = int((g.sum(0) > 0).sum())
        opt.update(model, grads)
        mx.eval(loss, model.parameters(), opt.state)
        window.append(loss.item())
        if step % 300 == 299:
            v = loss_fn(model, Xva * m, Yva).item()
            lines.append((step + 1, float(np.mean(window)), np.sqrt(v) * y_sd))
            window = []
    v = loss_fn(model, Xva * m, Yva).item()
    drift = float(np.abs(np.array(model.inp.weight) - w0).max())
    return lines, np.sqrt(v) * y_sd, used, drift, time.perf_counter() - t0


def main():
    rng = np.random.default_rng(2024)
    x, y = make_birds(9000, rng)
    xm, xs = x[:7500].mean(0), x[:7500].std(0)
    ym, ys = y[:7500].mean(), y[:7500].std()
    Xtr = mx.array((x[:7500] - xm) / xs)
    Ytr = mx.array((y[:7500] - ym) / ys)
    Xva = mx.array((x[7500:] - xm) / xs)
    Yva = mx.array((y[7500:] - ym) / ys)
    print(f"blackcap captures: 7500 fit / 1500 check, mass sd {ys:.3f} g, scale noise 0.25 g")
    runs = [("all", [0, 1, 2, 3, 4, 5])]
    for g, cols in GROUPS.items():
        runs.append((f"-{g}", [c for c in range(6) if c not in cols]))
    runs.append(("none", []))
    results = {}
    for k, (name, keep) in enumerate(runs):
        kept = ",".join(COLUMNS[c] for c in keep) or "(nothing)"
        print(f"\n[{k + 1}/{len(runs)}] run {name}: inputs {kept}")
        lines, rmse, used, drift, secs = run_ablation(name, keep, 40 + k, Xtr, Ytr, Xva, Yva, ys)
        print(f"      first-step input columns with gradient: {used}/6")
        for step, tr, vr in lines:
            print(f"      step {step:5d}  train mse(z) {tr:.4f}  check RMSE {vr:.3f} g")
        print(f"      done in {secs:.1f}s, input-layer max drift {drift:.2e}")
        results[name] = rmse
    print("\nablation summary (check-set RMSE, grams; lower is better)")
    print(f"  {'run':<12}{'RMSE':>8}{'vs all':>10}")
    for name, _ in runs:
        print(f"  {name:<12}{results[name]:8.3f}{results[name] - results['all']:+10.3f}")


if __name__ == "__main__":
    main()
