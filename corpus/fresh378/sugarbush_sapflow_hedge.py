"""Sugarbush sap-flow forecaster: three online learners and a share-floored
Hedge mixture, scored test-then-train on a stream of tapping days.

Each day brings 24 tap readings. Every learner predicts them before it sees
the answers, then takes one step on them. The mixture weights follow the
exponentiated negative losses with a small share kept for every learner.
Late in the season (day 180 on) warm nights shut flow down, so losses jump
and the weights have to move.
"""
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(5)
mx.random.seed(5)

DAYS, TAPS = 300, 24
ETA, SHARE = 2.0, 0.02


def day_batch(d):
    tmin = rng.normal(-6 + d * 0.03, 4.0, TAPS)       # night low, C
    tmax = rng.normal(3 + d * 0.04, 4.0, TAPS)        # day high, C
    dbh = rng.uniform(25, 70, TAPS)                   # trunk diameter, cm
    slope_sun = rng.uniform(0, 1, TAPS)               # south-facing share
    vac = rng.uniform(0.4, 0.9, TAPS)                 # tubing vacuum, bar
    swing = np.clip(tmax, 0, None) * np.clip(-tmin, 0, None)
    flow = 0.09 * swing * (dbh / 45) * (0.7 + 0.6 * vac) * (1 + 0.3 * slope_sun)
    if d >= 180:                                      # budding: warm nights stop the run
        flow = flow * np.where(tmin > -2, 0.15, 0.8) + 3.0 * (1 - slope_sun) * (vac - 0.4)
    flow = flow + rng.normal(0, 0.25, TAPS)
    X = np.stack([tmin / 6, tmax / 6, (dbh - 45) / 15, slope_sun, vac, np.full(TAPS, d / DAYS)], 1)
    return mx.array(X.astype(np.float32)), mx.array(flow.astype(np.float32))


class Linear1(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(6, 1)

    def __call__(self, x):
        return self.lin(x).squeeze(-1)


class Mlp(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(6, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(), nn.Linear(width, 1))

    def __call__(self, x):
        return self.net(x).squeeze(-1)


def sq(model, x, y):
    return ((model(x) - y) ** 2).mean()


learners = {
    "linear_sgd": (Linear1(), optim.SGD(learning_rate=0.02)),
    "mlp16_adam": (Mlp(16), optim.Adam(learning_rate=3e-3)),
    "mlp64_adagrad": (Mlp(64), optim.Adagrad(learning_rate=0.05)),
}
names = list(learners)
grad_fns = {k: nn.value_and_grad(m, sq) for k, (m, _) in learners.items()}
for m, _ in learners.values():
    mx.eval(m.parameters())

logw = np.zeros(len(names))
cum = {k: 0.0 for k in names + ["mixture", "yesterday_mean"]}
win = {k: [] for k in names + ["mixture", "yesterday_mean"]}
prev_mean = 0.0

print(f"stream: {DAYS} days x {TAPS} taps, eta {ETA}, share floor {SHARE}")
print("scores are squared error (L/tap)^2 measured before each update; regret = mixture minus best single learner so far")
for d in range(DAYS):
    x, y = day_batch(d)
    preds = {k: learners[k][0](x) for k in names}
    w = np.exp(logw - logw.max())
    w = w / w.sum()
    mix = sum(float(w[i]) * preds[k] for i, k in enumerate(names))
    losses = {k: ((preds[k] - y) ** 2).mean().item() for k in names}
    losses["mixture"] = ((mix - y) ** 2).mean().item()
    losses["yesterday_mean"] = float(((prev_mean - y) ** 2).mean().item())
    prev_mean = y.mean().item()
    for k, v in losses.items():
        cum[k] += v
        win[k].append(v)

    # Hedge with a share floor
    lw = logw - ETA * np.array([losses[k] for k in names])
    p = np.exp(lw - lw.max())
    p = p / p.sum()
    p = (1 - SHARE) * p + SHARE / len(names)
    logw = np.log(p)

    for k in names:
        model, opt = learners[k]
        _, g = grad_fns[k](model, x, y)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)

    day = d + 1
    if day in (1, 10, 185, 190) or (day >= 60 and day % 30 == 0):
        best = min(names, key=lambda k: cum[k])
        regret = cum["mixture"] - cum[best]
        cols = "  ".join(f"{k} {np.mean(win[k]):7.3f}" for k in names)
        print(f"day {day:3d} | window: mixture {np.mean(win['mixture']):7.3f}  {cols}  yesterday_mean {np.mean(win['yesterday_mean']):7.3f}"
              f" | weights {' '.join(f'{v:.2f}' for v in np.exp(logw))} | regret vs {best} {regret:+.2f}")
        win = {k: [] for k in win}

best = min(names, key=lambda k: cum[k])
print(f"season totals: mixture {cum['mixture']:.1f}, " + ", ".join(f"{k} {cum[k]:.1f}" for k in names)
      + f", yesterday_mean {cum['yesterday_mean']:.1f}")
print(f"final regret vs best single learner ({best}): {cum['mixture'] - cum[best]:+.2f}")
