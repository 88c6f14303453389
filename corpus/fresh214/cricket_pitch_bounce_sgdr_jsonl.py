"""Groundskeeper's model: ball bounce height (cm) off a cricket pitch from
six daily pitch readings.  Warm-up from lr 0, then cosine cycles with warm
restarts; from cycle 3 the worn end-of-match pitches are added to training."""
import json
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(2024)

FEATS = ["moisture_pct", "clay_pct", "grass_mm", "roller_passes",
         "days_since_water", "air_c"]


def pitches(n, worn):
    moist = mx.random.uniform(8, 30, (n,))
    clay = mx.random.uniform(25, 60, (n,))
    grass = mx.random.uniform(2, 12, (n,))
    roll = mx.random.randint(0, 40, (n,)).astype(mx.float32)
    dry = mx.random.uniform(0, 6, (n,))
    air = mx.random.uniform(10, 38, (n,))
    bounce = (78 + 0.55 * clay - 1.1 * moist - 1.6 * grass + 0.25 * roll
              + 2.2 * dry + 0.15 * air - 0.012 * (moist - 18) ** 2 * clay / 10)
    if worn:
        # cracked, footmarked surfaces: bounce gets erratic and lower
        crack = mx.random.uniform(0, 1, (n,))
        bounce = bounce - 14 * crack * (dry / 6) + 6 * mx.sin(3.0 * crack * clay / 10)
    bounce = bounce + 1.5 * mx.random.normal((n,))
    x = mx.stack([moist, clay, grass, roll, dry, air], axis=1)
    return x, bounce


xa, ya = pitches(1200, worn=False)
xb, yb = pitches(1200, worn=True)
xv1, yv1 = pitches(300, worn=False)
xv2, yv2 = pitches(300, worn=True)
xval = mx.concatenate([xv1, xv2]); yval = mx.concatenate([yv1, yv2])

mu = xa.mean(axis=0); sd = xa.std(axis=0)
ymu = ya.mean(); ysd = ya.std()
norm = lambda x: (x - mu) / sd

model = nn.Sequential(nn.Linear(6, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU(),
                      nn.Linear(48, 1))
opt = optim.Adamax(learning_rate=0.0)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(norm(x)).squeeze(-1), (y - ymu) / ysd)


step = nn.value_and_grad(model, loss_fn)

WARM, CYCLE, NCYC, PEAK, BS = 40, 120, 4, 6e-3, 64
baseline_rmse = math.sqrt(mx.mean((yval - ymu) ** 2).item())
it = 0
for cyc in range(NCYC):
    if cyc >= 2:
        xt = mx.concatenate([xa, xb]); yt = mx.concatenate([ya, yb])
    else:
        xt, yt = xa, ya
    n = xt.shape[0]
    steps = CYCLE + (WARM if cyc == 0 else 0)
    for k in range(steps):
        if cyc == 0 and k < WARM:
            lr = PEAK * k / WARM                      # exactly 0 at it 0
        else:
            kk = k - (WARM if cyc == 0 else 0)
            lr = 0.5 * PEAK * (1 + math.cos(math.pi * kk / CYCLE))
        opt.learning_rate = lr
        idx = mx.random.randint(0, n, (BS,))
        loss, g = step(model, xt[idx], yt[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        it += 1
        if k % 20 == 0 or k == steps - 1:
            pred = model(norm(xval)).squeeze(-1) * ysd + ymu
            rmse = mx.sqrt(mx.mean((pred - yval) ** 2)).item()
            print(json.dumps({"cyc": cyc, "it": it, "lr": round(lr, 6),
                              "train_mse_z": round(loss.item(), 4),
                              "val_rmse_cm": round(rmse, 3),
                              "mean_guess_cm": round(baseline_rmse, 3),
                              "worn_in_train": cyc >= 2}))
pred = model(norm(xval)).squeeze(-1) * ysd + ymu
for name, sl in (("fresh", slice(0, 300)), ("worn", slice(300, 600))):
    e = mx.sqrt(mx.mean((pred[sl] - yval[sl]) ** 2)).item()
    print(json.dumps({"summary": name, "val_rmse_cm": round(e, 3)}))
