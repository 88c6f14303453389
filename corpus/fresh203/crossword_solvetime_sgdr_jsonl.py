"""Newspaper puzzle desk: predict how long a crossword takes the test-solver panel.

Target: log(minutes) of median solve time, from 7 grid features. Trained with AdamW
under warm restarts (each cycle ramps from lr = 0, then cosine-decays), logged as
JSON lines. `mae_min` is in minutes; `ref_mae_min` is the weekday-average baseline.
"""
import json
import math
import random
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

random.seed(11)
mx.random.seed(11)

WEEKDAY_DIFF = [0.0, 0.3, 0.6, 1.0, 1.4, 1.9, 1.2]  # Mon..Sun


def make_puzzle():
    day = random.randrange(7)
    size = 15 if day != 6 else 21
    black = random.uniform(0.13, 0.20)
    words = int(size * size * (1 - black) / random.uniform(4.2, 5.6))
    mean_len = size * size * (1 - black) * 2 / words
    themed = 1.0 if random.random() < 0.7 else 0.0
    obscure = random.betavariate(2, 12) * (1 + 0.5 * WEEKDAY_DIFF[day])
    rebus = 1.0 if (day == 3 and random.random() < 0.4) else 0.0
    log_min = (1.55 + 0.42 * WEEKDAY_DIFF[day] + 0.9 * (size == 21)
               + 2.2 * obscure + 0.08 * (mean_len - 5.5) ** 2
               - 0.15 * themed + 0.35 * rebus + 0.6 * math.tanh(4 * (0.165 - black))
               + random.gauss(0, 0.12))
    feats = [day / 6.0, size / 21.0, black * 5, words / 150.0, mean_len / 6.0,
             themed, obscure * 4, rebus]
    return feats, log_min, day


def build(n):
    rows = [make_puzzle() for _ in range(n)]
    X = mx.array([r[0] for r in rows])
    y = mx.array([r[1] for r in rows])
    d = [r[2] for r in rows]
    return X, y, d


Xtr, ytr, dtr = build(3000)
Xva, yva, dva = build(600)
mu, sd = Xtr.mean(axis=0), Xtr.std(axis=0) + 1e-6
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd

# baseline: weekday mean of the training targets (in minutes)
day_mean = {}
for k in range(7):
    idx = [i for i, dd in enumerate(dtr) if dd == k]
    day_mean[k] = float(mx.exp(ytr[mx.array(idx)]).mean().item())
ref_mae = sum(abs(day_mean[dd] - math.exp(float(v))) for dd, v in zip(dva, yva.tolist())) / len(dva)


class SolveTimeNet(nn.Module):
    def __init__(self, d_in=8, h=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, h)
        self.l2 = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        x = nn.gelu(self.l1(x))
        x = x + nn.gelu(self.l2(x))
        return self.out(x).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=0.3, reduction="mean")


model = SolveTimeNet()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)
grad_fn = nn.value_and_grad(model, loss_fn)

# one-off audit: every tensor must receive gradient
_, g0 = grad_fn(model, Xtr[:256], ytr[:256])
norms = {k: float(mx.linalg.norm(v.reshape(-1)).item()) for k, v in tree_flatten(g0)}
print(f"# grad audit: {len(norms)} tensors, min |g| = {min(norms.values()):.2e} ({min(norms, key=norms.get)})")

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = grad_fn(model, x, y)
    opt.update(model, grads)
    return loss


def lr_at(t, cycle_len, peak, warm=20):
    if t < warm:
        return peak * t / warm           # t == 0 -> exactly zero
    p = (t - warm) / max(1, cycle_len - warm)
    return 0.5 * peak * (1 + math.cos(math.pi * p))


cycles = [(120, 4e-3), (240, 3e-3), (480, 2e-3)]
B = 64
n = Xtr.shape[0]
for c, (clen, peak) in enumerate(cycles):
    for t in range(clen):
        opt.learning_rate = lr_at(t, clen, peak)
        idx = mx.array(random.sample(range(n), B))
        loss = step(Xtr[idx], ytr[idx])
        mx.eval(loss, state)
        if t % 40 == 0 or t == clen - 1:
            pred = model(Xva)
            mae = mx.abs(mx.exp(pred) - mx.exp(yva)).mean().item()
            print(json.dumps({"cycle": c, "t": t, "lr": round(float(opt.learning_rate.item()), 6),
                              "huber": round(loss.item(), 4), "mae_min": round(mae, 2),
                              "ref_mae_min": round(ref_mae, 2)}))

pred = model(Xva)
mae = mx.abs(mx.exp(pred) - mx.exp(yva)).mean().item()
print(f"# done: val MAE {mae:.2f} min vs weekday-mean baseline {ref_mae:.2f} min ({100 * (1 - mae / ref_mae):.0f}% better)")
