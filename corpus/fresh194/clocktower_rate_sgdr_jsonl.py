"""Turret clock keeper's log: daily rate (seconds gained/lost per day) of a church
tower pendulum clock from 6 readings (tower temperature, barometric pressure,
days since winding, oil age in weeks, pendulum rating-nut turns, wind gust).
Small MLP, SGD with Nesterov momentum, warm-restart cycles that each warm up
from lr = 0 exactly, early stopping over cycles with best-weights restore.
One JSON object per line."""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

r = np.random.default_rng(1894)
N = 3000
temp = r.uniform(-5, 30, N)            # deg C
press = r.normal(1013, 9, N)           # hPa
wind_days = r.integers(0, 8, N)        # days since winding
oil = r.uniform(0, 60, N)              # weeks
nut = r.uniform(-3, 3, N)              # rating-nut turns
gust = r.gamma(2.0, 4.0, N)            # m/s
rate = (-0.45 * (temp - 15) + 0.03 * (press - 1013) - 0.6 * wind_days ** 1.3 / 3
        - 0.002 * oil ** 2 / 10 + 4.0 * nut + 0.08 * gust * np.sin(nut)
        + r.normal(0, 0.6, N))          # s/day
X = np.stack([temp, press, wind_days, oil, nut, gust], 1).astype(np.float32)
mu, sd = X[:2400].mean(0), X[:2400].std(0)
X = (X - mu) / sd
y = rate.astype(np.float32)[:, None]
Xtr, ytr, Xva, yva = mx.array(X[:2400]), mx.array(y[:2400]), mx.array(X[2400:]), mx.array(y[2400:])
baseline_mae = float(np.abs(y[2400:] - y[:2400].mean()).mean())


class RateNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))


mx.random.seed(3)
net = RateNet()
opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True)


def mse(model, xb, yb):
    return ((model(xb) - yb) ** 2).mean()


step_fn = nn.value_and_grad(net, mse)
CYCLE_EPOCHS, PEAK, WARM = [4, 8, 16, 32], 0.02, 60
BATCH, PATIENCE = 48, 2
steps_per_epoch = 2400 // BATCH

best, best_params, bad_cycles, t0 = float("inf"), None, 0, time.time()
for cycle, n_ep in enumerate(CYCLE_EPOCHS):
    total = n_ep * steps_per_epoch
    it = 0                                   # restarts every cycle
    for ep in range(n_ep):
        perm = mx.array(r.permutation(2400))
        run = 0.0
        for b in range(steps_per_epoch):
            if it < WARM:
                lr = PEAK * it / WARM            # 0.0 exactly on the first step
            else:
                lr = 0.5 * PEAK * (1 + math.cos(math.pi * (it - WARM) / (total - WARM)))
            opt.learning_rate = lr
            idx = perm[b * BATCH:(b + 1) * BATCH]
            loss, g = step_fn(net, Xtr[idx], ytr[idx])
            opt.update(net, g)
            mx.eval(net.parameters(), opt.state, loss)
            run += loss.item()
            it += 1
        val_pred = net(Xva)
        val_mae = mx.abs(val_pred - yva).mean().item()
        val_rmse = mx.sqrt(((val_pred - yva) ** 2).mean()).item()
        print(json.dumps({"cycle": cycle, "epoch": ep, "lr_end": round(lr, 6),
                          "train_mse_s2": round(run / steps_per_epoch, 4),
                          "val_mae_s_per_day": round(val_mae, 4), "val_rmse": round(val_rmse, 4),
                          "baseline_mae": round(baseline_mae, 4)}))
    if val_mae < best - 1e-3:
        best, bad_cycles = val_mae, 0
        best_params = tree_map(lambda a: mx.array(a), net.parameters())
        mx.eval(best_params)
    else:
        bad_cycles += 1
        print(json.dumps({"cycle": cycle, "event": "no_improvement", "bad_cycles": bad_cycles}))
        if bad_cycles >= PATIENCE:
            print(json.dumps({"event": "early_stop", "after_cycle": cycle}))
            break

net.update(best_params)
mx.eval(net.parameters())
final_mae = mx.abs(net(Xva) - yva).mean().item()
gnorm = math.sqrt(sum((v ** 2).sum().item() for _, v in tree_flatten(step_fn(net, Xtr, ytr)[1])))
print(json.dumps({"event": "restored_best", "val_mae_s_per_day": round(final_mae, 4),
                  "best_seen": round(best, 4), "restore_diff": round(abs(final_mae - best), 6),
                  "full_batch_grad_norm": round(gnorm, 5), "baseline_mae": round(baseline_mae, 4),
                  "wall_s": round(time.time() - t0, 2)}))
