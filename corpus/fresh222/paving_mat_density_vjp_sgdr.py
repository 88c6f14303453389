"""Road paving crew: predict the in-place density (kg/m^3) of a freshly rolled
asphalt mat from laydown settings and weather.  Synthetic data.

MLP with a softsign activation whose backward pass is hand-written via
mx.custom_function; SGD+momentum under cosine warm restarts (SGDR), so the
loss climbs after every restart.  One JSON object per epoch on stdout."""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)


@mx.custom_function
def softsign(x):
    return x / (1.0 + mx.abs(x))


@softsign.vjp
def softsign_vjp(x, cotangent, output):
    d = 1.0 + mx.abs(x)
    return cotangent / (d * d)


def make_data(n, key):
    k = mx.random.split(key, 7)
    mix_c = mx.random.uniform(120.0, 165.0, (n,), key=k[0])
    passes = mx.floor(mx.random.uniform(2.0, 11.0, (n,), key=k[1]))
    lift_mm = mx.random.uniform(30.0, 80.0, (n,), key=k[2])
    air_c = mx.random.uniform(2.0, 30.0, (n,), key=k[3])
    wind = mx.random.uniform(0.0, 8.0, (n,), key=k[4])
    roller_kmh = mx.random.uniform(3.0, 7.0, (n,), key=k[5])
    # mat cools while rolling: thinner lifts, colder air and wind lose heat faster
    cool = (mix_c - air_c) * mx.exp(-lift_mm / 60.0) * (1.0 + 0.08 * wind)
    dens = (2180.0 + 95.0 * mx.tanh((passes - 4.0) / 2.5) - 0.9 * cool
            - 14.0 * (roller_kmh - 5.0) + 0.02 * (mix_c - 140.0) ** 2
            + 12.0 * mx.random.normal((n,), key=k[6]))
    X = mx.stack([mix_c, passes, lift_mm, air_c, wind, roller_kmh], axis=1)
    return X, dens


class PaveNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = softsign(self.l1(x))
        h = softsign(self.l2(h))
        return self.out(h).squeeze(-1)


key = mx.random.key(11)
ktr, kva = mx.random.split(key)
Xtr, ytr = make_data(2400, ktr)
Xva, yva = make_data(600, kva)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
ttr, tva = (ytr - ymu) / ysd, (yva - ymu) / ysd

model = PaveNet()
opt = optim.SGD(learning_rate=0.0, momentum=0.9)


def loss_fn(m, x, t):
    return mx.mean((m(x) - t) ** 2)


step_fn = nn.value_and_grad(model, loss_fn)

# audit: the hand-written backward must match autodiff of the plain formula
probe = mx.random.normal((256,))
g_custom = mx.grad(lambda z: mx.sum(softsign(z) ** 2))(probe)
g_plain = mx.grad(lambda z: mx.sum((z / (1.0 + mx.abs(z))) ** 2))(probe)
print(json.dumps({"audit": "softsign_vjp", "max_abs_diff": float(mx.max(mx.abs(g_custom - g_plain))),
                  "grad_norm": round(float(mx.linalg.norm(g_plain)), 5)}))

BATCH = 64
steps_per_epoch = Xtr.shape[0] // BATCH
cycles = [3, 6, 12]  # epochs per SGDR cycle, doubling
LR_MAX, LR_MIN = 0.05, 0.0005
t0 = time.perf_counter()
epoch = 0
for c, n_ep in enumerate(cycles):
    total = n_ep * steps_per_epoch
    t_cur = 0
    for e in range(n_ep):
        perm = mx.random.permutation(Xtr.shape[0])
        run = 0.0
        for b in range(steps_per_epoch):
            lr = LR_MIN + 0.5 * (LR_MAX - LR_MIN) * (1 + math.cos(math.pi * t_cur / total))
            opt.learning_rate = lr
            idx = perm[b * BATCH:(b + 1) * BATCH]
            loss, grads = step_fn(model, Xtr[idx], ttr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            t_cur += 1
        val_rmse = math.sqrt(loss_fn(model, Xva, tva).item()) * ysd.item()
        print(json.dumps({"epoch": epoch, "cycle": c, "epoch_in_cycle": e, "lr_end": round(lr, 6),
                          "train_mse_std": round(run / steps_per_epoch, 4),
                          "val_rmse_kg_m3": round(val_rmse, 2)}))
        epoch += 1

pred = model(Xva) * ysd + ymu
mae = mx.mean(mx.abs(pred - yva)).item()
baseline = mx.mean(mx.abs(yva - ytr.mean())).item()
print(json.dumps({"summary": True, "val_mae_kg_m3": round(mae, 2),
                  "mean_predictor_mae_kg_m3": round(baseline, 2),
                  "noise_sd_kg_m3": 12.0, "seconds": round(time.perf_counter() - t0, 2)}))
