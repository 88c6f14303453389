# NARX system identification of a driven, damped Duffing-type oscillator.
# Learn x[t+1] from the last 4 displacements and the last 2 forcing values,
# then check a free-running multi-step rollout on held-out forcing.
import datetime as dt
import math
import random
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(11)
mx.random.seed(11)
DT = 0.05
LAGS_X, LAGS_U = 4, 2


def simulate(n, seed):
    rng = random.Random(seed)
    x, v = 0.0, 0.0
    xs, us = [], []
    u = 0.0
    for t in range(n):
        if t % 40 == 0:
            u = rng.uniform(-1.5, 1.5)          # piecewise-constant forcing
        a = u - 0.3 * v - 1.0 * x - 0.8 * x ** 3
        v += DT * a
        x += DT * v
        xs.append(x + rng.gauss(0, 0.002))      # small sensor noise
        us.append(u)
    return xs, us


INC_SCALE = 0.02   # typical |x[t+1]-x[t]|, keeps the difference features O(1)


def feature_row(xh, uh):
    # last LAGS_X displacements, their successive differences (scaled), last LAGS_U forces
    diffs = [(xh[i + 1] - xh[i]) / INC_SCALE for i in range(len(xh) - 1)]
    return list(xh) + diffs + list(uh)


def windows(xs, us):
    feats, tgt = [], []
    for t in range(LAGS_X, len(xs) - 1):
        feats.append(feature_row(xs[t - LAGS_X + 1:t + 1], us[t - LAGS_U + 1:t + 1]))
        tgt.append(xs[t + 1] - xs[t])           # predict the increment
    return mx.array(feats), mx.array(tgt)[:, None]


xs_tr, us_tr = simulate(6000, 1)
xs_va, us_va = simulate(800, 2)
Xtr, Ytr = windows(xs_tr, us_tr)
Xva, Yva = windows(xs_va, us_va)
ysd = float(mx.std(Ytr).item())

model = nn.Sequential(nn.Linear(2 * LAGS_X - 1 + LAGS_U, 48), nn.Tanh(), nn.Linear(48, 48), nn.Tanh(), nn.Linear(48, 1))


def loss_fn(m, X, Y):
    return nn.losses.mse_loss(m(X), Y / ysd)   # loss in units of the increment sd


def rollout_rmse(m, xs, us, horizon=300, start=100):
    hist = list(xs[start - LAGS_X + 1:start + 1])
    err = 0.0
    for k in range(horizon):
        t = start + k
        f = mx.array([feature_row(hist[-LAGS_X:], us[t - LAGS_U + 1:t + 1])])
        nxt = hist[-1] + m(f).item() * ysd
        hist.append(nxt)
        err += (nxt - xs[t + 1]) ** 2
    return math.sqrt(err / horizon)


opt = optim.SGD(learning_rate=0.01, momentum=0.9, nesterov=True)
vg = nn.value_and_grad(model, loss_fn)

# one-off gradient check
_, g0 = vg(model, Xtr[:256], Ytr[:256])
from mlx.utils import tree_flatten
zero_leaves = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max().item()) == 0.0]

t0 = dt.datetime(2026, 1, 1, 9, 0, 0)
print("BEGIN:VCALENDAR")
print("VERSION:2.0")
print("PRODID:-//narx-fit//mlx//EN")
print(f"X-GRAD-CHECK:leaves={len(tree_flatten(g0))};zero={len(zero_leaves)}")
print(f"X-BASELINE:persistence_rollout_rmse={math.sqrt(sum((xs_va[100] - xs_va[101 + k]) ** 2 for k in range(300)) / 300):.4f}")
bs = 128
n = Xtr.shape[0]
step = 0
for epoch in range(1, 31):
    perm = mx.random.permutation(n)
    for i in range(0, n - bs + 1, bs):
        idx = perm[i:i + bs]
        loss, g = vg(model, Xtr[idx], Ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        step += 1
    if epoch in (1, 2, 3, 5) or epoch % 5 == 0:
        one = float(loss_fn(model, Xva, Yva).item())
        roll = rollout_rmse(model, xs_va, us_va)
        start = t0 + dt.timedelta(minutes=epoch)
        print("BEGIN:VEVENT")
        print(f"UID:epoch-{epoch:02d}@narx")
        print(f"DTSTART:{start:%Y%m%dT%H%M%S}")
        print(f"SUMMARY:epoch {epoch} step {step}")
        print(f"DESCRIPTION:last_batch_mse={loss.item():.5f}\\, val_one_step_mse={one:.5f}\\, rollout_rmse_300={roll:.4f}")
        print("END:VEVENT")
print("END:VCALENDAR")
