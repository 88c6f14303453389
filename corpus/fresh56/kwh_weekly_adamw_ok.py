# Weekly household electricity use (kWh) from a handful of standardised
# features, plain linear model, AdamW (Adam with decoupled weight decay,
# default decay 0 according to its docstring).
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

FEATURES = ["heating_degree_days", "occupants", "floor_area_m2", "ev_charger",
            "heat_pump", "home_office_days"]


def make_data(rng, n):
    raw = np.stack([
        rng.gamma(4.0, 20.0, n),            # HDD per week
        rng.integers(1, 6, n).astype(float),
        rng.normal(120, 35, n).clip(40, 300),
        rng.random(n) < 0.2,
        rng.random(n) < 0.3,
        rng.integers(0, 6, n).astype(float),
    ], axis=1).astype(np.float64)
    coef = np.array([1.6, 28.0, 0.9, 95.0, 60.0, 11.0])
    kwh = 85.0 + raw @ coef + rng.normal(0, 18.0, n)
    return raw, kwh


def main():
    rng = np.random.default_rng(3)
    Xtr, ytr = make_data(rng, 4000)
    Xva, yva = make_data(rng, 1000)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    Xtr = mx.array(((Xtr - mu) / sd).astype(np.float32))
    Xva = mx.array(((Xva - mu) / sd).astype(np.float32))
    ytr = mx.array(ytr.astype(np.float32))
    yva = mx.array(yva.astype(np.float32))
    print(f"target: mean {ytr.mean().item():.1f} kWh/week, sd {mx.sqrt(mx.var(ytr)).item():.1f}")

    model = nn.Linear(len(FEATURES), 1)

    def loss_fn(model, x, y):
        return nn.losses.mse_loss(model(x).squeeze(-1), y)

    vg = nn.value_and_grad(model, loss_fn)
    opt = optim.AdamW(learning_rate=1.0, weight_decay=0.0)

    steps, bs = 12000, 128
    t0 = time.time()
    print(f"{'step':>5} | {'train rmse':>10} | {'val rmse':>9} | {'intercept':>9}")
    for step in range(1, steps + 1):
        idx = mx.array(rng.integers(0, Xtr.shape[0], bs))
        loss, grads = vg(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 1200 == 0 or step == 1:
            val = loss_fn(model, Xva, yva)
            print(f"{step:5d} | {loss.item() ** 0.5:10.2f} | {val.item() ** 0.5:9.2f} | "
                  f"{model.bias.item():9.2f}")

    w = np.array(model.weight)[0] / sd
    print(f"\nper-unit effects (kWh/week): " + ", ".join(f"{n}={c:.2f}" for n, c in zip(FEATURES, w)))
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
