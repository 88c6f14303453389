"""Luthier's workshop: hours until a violin varnish coat is touch-dry.

Regressed from 6 shop readings (humidity, temperature, coat thickness, oil share,
UV-box minutes, resin age) with a tanh MLP. SGD with momentum runs at a high constant
rate, then the rate is cut to 1/20 for the last 40% of the steps.
Output is a Markdown table, one row per 150 steps, with two reference rows on top.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(21)
mx.random.seed(21)
N, NV, NOISE = 6000, 1500, 0.15


def shop(n):
    hum = rng.uniform(0.3, 0.85, n)
    temp = rng.uniform(14, 30, n)
    thick = rng.uniform(10, 60, n)
    oil = rng.uniform(0.2, 0.7, n)
    uv = rng.uniform(0, 120, n)
    age = rng.uniform(0, 24, n)
    logh = (1.2 + 1.6 * hum - 0.045 * (temp - 20) + 0.018 * thick + 0.9 * oil * hum
            - 0.6 * (1 - np.exp(-uv / 40)) + 0.15 * np.sin(age / 4))
    X = np.stack([hum, temp, thick, oil, uv, age], 1)
    return X, logh + NOISE * rng.normal(size=n)


Xtr, ytr = shop(N)
Xva, yva = shop(NV)
mu, sd = Xtr.mean(0), Xtr.std(0)
ym, ys = ytr.mean(), ytr.std()
Xtr, Xva = ((Xtr - mu) / sd).astype(np.float32), ((Xva - mu) / sd).astype(np.float32)
ttr, tva = ((ytr - ym) / ys).astype(np.float32), ((yva - ym) / ys).astype(np.float32)
Xtr, Xva, ttr, tva = map(mx.array, (Xtr, Xva, ttr, tva))

model = nn.Sequential(nn.Linear(6, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))
mx.eval(model.parameters())

STEPS, DROP, BATCH = 2400, 1440, 32
sched = optim.join_schedules([lambda s: mx.array(0.08), lambda s: mx.array(0.004)], [DROP])
opt = optim.SGD(learning_rate=sched, momentum=0.9)


def mse(m, x, t):
    return ((m(x).squeeze(-1) - t) ** 2).mean()


vg = nn.value_and_grad(model, mse)
floor = (NOISE / ys) ** 2
const = float(((np.array(tva) - 0.0) ** 2).mean())
print("| step | lr | train mse (z) | valid mse (z) | valid MAE (min) | secs |")
print("|---:|---:|---:|---:|---:|---:|")
print("| ref: mean-only | - | - | %.4f | - | - |" % const)
print("| ref: noise floor | - | - | %.4f | - | - |" % floor)
t0, run = time.time(), []
for step in range(1, STEPS + 1):
    idx = mx.array(rng.integers(0, N, size=BATCH))
    loss, g = vg(model, Xtr[idx], ttr[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    run.append(loss.item())
    if step % 150 == 0:
        pred_h = np.exp(np.array(model(Xva).squeeze(-1)) * ys + ym)
        mae_min = 60 * np.abs(pred_h - np.exp(yva)).mean()
        print("| %d | %.3f | %.4f | %.4f | %.1f | %.1f |" % (
            step, float(sched(mx.array(step - 1))), np.mean(run[-150:]), mse(model, Xva, tva).item(), mae_min,
            time.time() - t0))
print()
print("finished %d steps; valid mse %.4f vs noise floor %.4f" % (STEPS, mse(model, Xva, tva).item(), floor))
