# Lighthouse foghorn audibility: regress how far (km) the horn is still heard
# from 6 made-up acoustic/weather readings. Two-stage curriculum: calm-weather
# logs first, then the full storm-season logs (harder, the loss jumps up when
# they arrive). Each stage warms the learning rate up from exactly 0.
# Robust log-cosh loss with a hand-written VJP; early stopping with restore.
import json
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(2024)


def foghorn_logs(n, storm):
    freq = rng.uniform(0.1, 0.6, n)            # kHz
    level = rng.uniform(110, 140, n)           # dB at 1 m
    humid = rng.uniform(0.5, 1.0, n)           # relative
    inversion = rng.uniform(-1, 1, n)          # temperature gradient, K/100 m
    wind = rng.uniform(-15, 15, n) if storm else rng.uniform(-2, 2, n)   # m/s toward listener
    sea = rng.uniform(0, 7, n) if storm else rng.uniform(0, 1.5, n)      # sea state
    rng_km = (0.35 * (level - 100) / (1 + 2.0 * freq) * (0.8 + 0.3 * humid)
              * np.exp(0.03 * wind) * (1 + 0.25 * inversion) / (1 + 0.12 * sea ** 1.3))
    rng_km = rng_km + rng.normal(0, 0.25, n)
    X = np.stack([freq, (level - 125) / 9, humid, inversion, wind / 9, sea / 2.5], 1)
    return mx.array(X.astype(np.float32)), mx.array(rng_km.astype(np.float32))


@mx.custom_function
def logcosh(d):
    a = mx.abs(d)
    return a + mx.log1p(mx.exp(-2 * a)) - np.log(2.0)


@logcosh.vjp
def logcosh_vjp(primals, cotangent, output):
    d = primals
    return cotangent * mx.tanh(d)


class RangeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 48), nn.GELU(), nn.Linear(48, 48), nn.GELU())
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(self.body(x))[:, 0]


def loss_fn(model, x, y):
    return logcosh(model(x) - y).mean()


model = RangeNet()
mx.eval(model.parameters())

# gradient check of the hand-written VJP against finite differences
d0 = mx.array([-3.0, -0.4, 0.0, 0.7, 5.0])
g_vjp = mx.grad(lambda d: logcosh(d).sum())(d0)
eps = 1e-3
g_fd = (logcosh(d0 + eps) - logcosh(d0 - eps)) / (2 * eps)
print(json.dumps({"event": "vjp_check", "max_abs_diff": round(float(mx.abs(g_vjp - g_fd).max()), 6)}))

Xv_calm, yv_calm = foghorn_logs(400, storm=False)
Xv_storm, yv_storm = foghorn_logs(600, storm=True)
base_storm = float(mx.abs(yv_storm - yv_storm.mean()).mean())

stages = [("calm", False, 300, 60), ("storm", True, 900, 80)]
for stage, storm, iters, warm in stages:
    X, y = foghorn_logs(3000, storm)
    Xv, yv = (Xv_storm, yv_storm) if storm else (Xv_calm, yv_calm)
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, iters - warm, 1e-4)], [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    step = nn.value_and_grad(model, loss_fn)
    best, best_it, best_params, wait = float("inf"), 0, None, 0
    for it in range(iters):
        idx = mx.array(rng.integers(0, X.shape[0], 128))
        loss, grads = step(model, X[idx], y[idx])
        if it == 0 and stage == "calm":
            dead = [k for k, g in tree_flatten(grads) if float(mx.abs(g).max()) == 0.0]
            print(json.dumps({"event": "grad_audit", "tensors": len(tree_flatten(grads)), "zero_grad": dead}))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 50 == 0 or it == iters - 1:
            pred = model(Xv)
            mae = float(mx.abs(pred - yv).mean())
            rec = {"stage": stage, "it": it, "lr": round(float(opt.learning_rate), 6),
                   "logcosh": round(loss.item(), 4), "val_mae_km": round(mae, 3)}
            if storm:
                rec["ref_mae_km"] = round(base_storm, 3)
                if mae < best - 1e-3:
                    best, best_it, wait = mae, it, 0
                    best_params = tree_map(lambda p: p, model.parameters())
                else:
                    wait += 1
                if wait >= 4:
                    rec["early_stop"] = True
                    print(json.dumps(rec))
                    break
            print(json.dumps(rec))
    if storm and best_params is not None:
        model.update(best_params)
        mx.eval(model.parameters())
        mae = float(mx.abs(model(Xv) - yv).mean())
        print(json.dumps({"event": "restore", "best_it": best_it, "val_mae_km": round(mae, 3),
                          "ref_mae_km": round(base_storm, 3)}))
