# Nightly water pumped by a ski area's snow-making plant (thousand m^3), forecast one
# night ahead. Walk-forward evaluation: expanding training window, the next 100 nights
# are the test block, the model is carried from block to block and the optimizer is
# rebuilt with a linear warm-up from 0 for every block. Two expectile heads (0.5, 0.9).
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)
N = 900
day = np.arange(N)
season = (day % 150) / 150.0                                # 150-night snow-making season, repeated
wetbulb = -4 - 5 * np.sin(np.pi * season) + 2.5 * rng.standard_normal(N)
humid = np.clip(0.7 + 0.15 * rng.standard_normal(N), 0.3, 1.0)
wind = np.abs(rng.normal(4, 2.5, N))
deficit = np.clip(60 * (1 - season) ** 2 + 8 * rng.standard_normal(N), 0, None)   # cm of base missing
vol = np.zeros(N)
for t in range(N):
    cold = max(0.0, -2.0 - wetbulb[t])
    base = 1.3 * cold * (deficit[t] / 40 + 0.3) * (1.1 - 0.4 * humid[t]) * (1 if wind[t] < 9 else 0.35)
    prev = vol[t - 1] if t else 0.0
    vol[t] = max(0.0, 0.65 * base + 0.3 * prev + rng.gamma(2.0, 0.6) - 1.0)

LAGS = 7
def features(t):
    lags = [vol[t - k] for k in range(1, LAGS + 1)]
    return [wetbulb[t], humid[t], wind[t], deficit[t], math.sin(2 * math.pi * season[t]),
            math.cos(2 * math.pi * season[t])] + lags
idx = np.arange(LAGS, N)
X_all = np.array([features(t) for t in idx], dtype=np.float32)
y_all = vol[idx].astype(np.float32)
persist = vol[idx - 1].astype(np.float32)
SCALE = 10.0

class PumpNet(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.l1 = nn.Linear(d, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 2)
    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        o = self.out(h)
        return mx.concatenate([o[:, :1], o[:, :1] + nn.softplus(o[:, 1:])], axis=1)

TAUS = mx.array([0.5, 0.9])
def expectile_loss(model, x, y):
    r = y[:, None] - model(x)
    w = mx.where(r > 0, TAUS, 1 - TAUS)
    return mx.mean(w * r * r)

model = PumpNet(X_all.shape[1])
loss_and_grad = nn.value_and_grad(model, expectile_loss)
print("fold,step,lr,train_expectile,seconds")
t0 = time.time()
summary = []
first_test = 400
for fold, start in enumerate(range(first_test, len(idx), 100)):
    end = min(start + 100, len(idx))
    Xtr, ytr = X_all[:start], y_all[:start]
    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
    Xtr_m = mx.array((Xtr - mu) / sd); ytr_m = mx.array(ytr / SCALE)
    Xte_m = mx.array((X_all[start:end] - mu) / sd)
    sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 60), optim.cosine_decay(2e-3, 340, 2e-4)], [60])
    opt = optim.Adam(learning_rate=sched)
    run = []
    for step in range(400):
        lr_now = float(sched(mx.array(step)))
        b = mx.array(rng.integers(0, start, 64))
        loss, g = loss_and_grad(model, Xtr_m[b], ytr_m[b])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        run.append(loss.item())
        if step % 100 == 0 or step == 399:
            print(f"{fold},{step},{lr_now:.6f},{np.mean(run[-50:]):.5f},{time.time() - t0:.1f}")
    pred = np.array(model(Xte_m)) * SCALE
    yt = y_all[start:end]
    mae = np.abs(pred[:, 0] - yt).mean()
    mae_p = np.abs(persist[start:end] - yt).mean()
    naive_scale = np.abs(np.diff(y_all[:start])).mean()
    above = (yt > pred[:, 1]).mean() * 100
    summary.append((fold, start, end, mae, mae_p, mae / naive_scale, above))
print()
print("fold,train_nights,test_nights,mae_kM3,persistence_mae_kM3,mase,pct_above_e90")
for f, s, e, m, mp, ms, ab in summary:
    print(f"{f},{s},{e - s},{m:.3f},{mp:.3f},{ms:.3f},{ab:.1f}")
ms = np.array([r[3] for r in summary]); mp = np.array([r[4] for r in summary])
print(f"mean,,,{ms.mean():.3f},{mp.mean():.3f},,")
