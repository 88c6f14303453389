# Kombucha brew log: predict the pH drop after 7 days from brew-day readings.
# 3-fold cross-validation, warmup from lr=0, a soft-clip activation with a hand-written VJP.
import json, math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
N = 3000
sugar = rng.uniform(50, 110, N)        # g/L
tea = rng.uniform(3, 9, N)             # g/L
temp = rng.uniform(20, 30, N)          # deg C
starter = rng.uniform(5, 20, N)        # % starter liquid
scoby_age = rng.uniform(0, 40, N)      # weeks
drop = (0.9 * np.tanh((temp - 22) / 4) + 0.012 * sugar + 0.04 * starter
        - 0.0004 * (scoby_age - 18) ** 2 + 0.05 * tea * (temp > 25) + rng.normal(0, 0.08, N))
X = np.stack([sugar, tea, temp, starter, scoby_age], 1).astype(np.float32)
X = (X - X.mean(0)) / X.std(0)
y = ((drop - drop.mean()) / drop.std()).astype(np.float32)[:, None]


@mx.custom_function
def softclip(x):
    return 3.0 * mx.tanh(x / 3.0)

@softclip.vjp
def softclip_vjp(x, cotangent, output):
    t = output / 3.0
    return cotangent * (1.0 - t * t)


class Brew(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = softclip(self.l1(x))
        h = softclip(self.l2(h))
        return self.out(h)


def mse(m, xb, yb):
    return mx.mean((m(xb) - yb) ** 2)


folds = np.array_split(rng.permutation(N), 3)
t0 = time.time()
summary = []
for k in range(3):
    va = folds[k]
    tr = np.concatenate([folds[j] for j in range(3) if j != k])
    Xtr, ytr, Xva, yva = mx.array(X[tr]), mx.array(y[tr]), mx.array(X[va]), mx.array(y[va])
    mx.random.seed(100 + k)
    model = Brew()
    steps_per_epoch = len(tr) // 64
    epochs = 14
    total = steps_per_epoch * epochs
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, 60), optim.cosine_decay(2e-3, total - 60, 1e-5)], [60])
    opt = optim.RMSprop(learning_rate=sched)
    vg = nn.value_and_grad(model, mse)
    base = float(mx.mean((yva - mx.mean(ytr)) ** 2))
    if k == 0:
        _, g0 = vg(model, Xtr[:256], ytr[:256])
        dead = [n for n, g in tree_flatten(g0) if float(mx.abs(g).max()) == 0.0]
        print(json.dumps({"check": "grad_nonzero", "params": len(tree_flatten(g0)), "dead": dead}))
    step = 0
    for ep in range(1, epochs + 1):
        perm = mx.array(np.random.default_rng(ep * 31 + k).permutation(len(tr)))
        run = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * 64:(i + 1) * 64]
            loss, g = vg(model, Xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            step += 1
        val = mse(model, Xva, yva).item()
        if ep in (1, 2, 4, 7, 10, 14):
            print(json.dumps({"fold": k + 1, "epoch": ep, "step": step, "lr": round(float(opt.learning_rate), 6),
                              "train_mse": round(run / steps_per_epoch, 4), "val_mse": round(val, 4),
                              "mean_baseline": round(base, 4), "r2_pct": round(100 * (1 - val / base), 1)}))
    summary.append(val)
print(json.dumps({"cv_val_mse": [round(v, 4) for v in summary], "mean": round(float(np.mean(summary)), 4),
                  "seconds": round(time.time() - t0, 1)}))
