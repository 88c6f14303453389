# Candle workshop: predict burn rate (g/h) of poured test candles from the pour sheet.
# SGD + momentum, cosine schedule with warm restarts (first cycle warms up from lr=0).
import json, math, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
N_TR, N_VA = 20000, 2000

def pour_sheet(n, key):
    k1, k2 = mx.random.split(key)
    u = mx.random.uniform(shape=(n, 6), key=k1)
    wick_mm   = 1.5 + 3.0 * u[:, 0]          # wick width
    soy_pct   = 100.0 * u[:, 1]              # soy share of the wax blend
    diam_cm   = 4.0 + 6.0 * u[:, 2]
    frag_pct  = 10.0 * u[:, 3]               # fragrance load
    room_c    = 16.0 + 10.0 * u[:, 4]
    draft     = u[:, 5]                      # 0 still .. 1 drafty
    rate = (1.8 * wick_mm ** 1.3 + 0.04 * diam_cm ** 2 - 0.012 * soy_pct
            + 0.15 * frag_pct + 0.05 * (room_c - 20) + 2.5 * draft * draft
            + 0.6 * mx.sin(1.5 * wick_mm) * draft)
    rate = rate + 0.25 * mx.random.normal(shape=(n,), key=k2)
    x = mx.stack([wick_mm, soy_pct, diam_cm, frag_pct, room_c, draft], axis=1)
    return x, rate[:, None]

xtr, ytr = pour_sheet(N_TR, mx.random.key(1))
xva, yva = pour_sheet(N_VA, mx.random.key(2))
mu, sd = xtr.mean(0), xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
ttr, tva = (ytr - ymu) / ysd, (yva - ymu) / ysd

model = nn.Sequential(nn.Linear(6, 96), nn.SiLU(), nn.Linear(96, 96), nn.SiLU(), nn.Linear(96, 1))
mx.eval(model.parameters())

CYCLE, N_CYCLES, WARM, PEAK = 250, 4, 60, 0.2
def lr_at(step):
    c, s = divmod(step, CYCLE)
    if c == 0 and s < WARM:
        return PEAK * s / WARM                 # exactly 0.0 at step 0
    return 0.5 * PEAK * (0.8 ** c) * (1 + math.cos(math.pi * s / CYCLE))

opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True)

def loss_fn(m, x, t):
    return nn.losses.mse_loss(m(x), t)

step_fn = nn.value_and_grad(model, loss_fn)

# baseline: predicting the mean burn rate of the training candles
base_rmse = float(mx.sqrt(((yva - ymu) ** 2).mean()))
BS = 256
t0 = time.time()
step = 0
for cycle in range(N_CYCLES):
    for s in range(CYCLE):
        idx = mx.random.randint(0, N_TR, (BS,))
        opt.learning_rate = lr_at(step)
        loss, grads = step_fn(model, xtr[idx], ttr[idx])
        if step == 0:
            gn = {k: float(mx.abs(v).sum()) for k, v in
                  __import__("mlx.utils", fromlist=["tree_flatten"]).tree_flatten(grads)}
            assert all(v > 0 for v in gn.values()), gn
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        if s % 50 == 0 or s in (5, 15, CYCLE - 1):
            pred = model(xva) * ysd + ymu
            rmse = float(mx.sqrt(((pred - yva) ** 2).mean()))
            print(json.dumps({"cycle": cycle, "it": s, "lr": round(float(opt.learning_rate), 5),
                              "train_mse_z": round(loss.item(), 4),
                              "val_rmse_g_per_h": round(rmse, 3),
                              "mean_guess_rmse_g_per_h": round(base_rmse, 3)}))

pred = model(xva) * ysd + ymu
mae = float(mx.abs(pred - yva).mean())
print(json.dumps({"done": True, "val_mae_g_per_h": round(mae, 3),
                  "vs_mean_guess_pct": round(100 * mae / float(mx.abs(yva - ymu).mean()), 1),
                  "seconds": round(time.time() - t0, 1)}))
