# Pot-metal glass for a cathedral window: predict transmitted colour (CIELAB-ish L, a, b)
# of a melt from its oxide recipe and furnace conditions. Synthetic melts, made-up law.
import json
import math
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(2024)


def melts(n):
    # cobalt, copper, iron, manganese, gold (wt %), furnace reducing index, glass thickness (mm)
    co = rng.gamma(1.2, 0.05, n)
    cu = rng.gamma(1.5, 0.4, n)
    fe = rng.gamma(2.0, 0.3, n)
    mn = rng.gamma(1.0, 0.3, n)
    au = rng.gamma(0.8, 0.01, n)
    red = rng.uniform(-1, 1, n)
    thick = rng.uniform(2.0, 6.0, n)
    X = np.stack([co, cu, fe, mn, au, red, thick], 1)
    absorb = thick * (8 * co + 0.6 * cu + 0.5 * fe + 0.4 * mn + 20 * au)
    L = 95 * np.exp(-0.12 * absorb)
    a = 40 * np.tanh(25 * au + 0.5 * mn) - 18 * cu * (red < 0) + 6 * fe * red
    b = -55 * np.tanh(6 * co) + 15 * fe * (1 + 0.5 * red) - 5 * cu
    Y = np.stack([L, a, b], 1) + rng.normal(0, 1.0, (n, 3))
    return X.astype(np.float32), Y.astype(np.float32)


Xtr, Ytr = melts(1600)
Xva, Yva = melts(400)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = Ytr.mean(0), Ytr.std(0)
Xtr, Xva = mx.array((Xtr - mu) / sd), mx.array((Xva - mu) / sd)
Ytr_n = mx.array((Ytr - ymu) / ysd)
Yva_raw = mx.array(Yva)
ysd_a, ymu_a = mx.array(ysd), mx.array(ymu)


class Glassmaker(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.head = nn.Linear(64, 3)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.head(h)


mx.random.seed(11)
model = Glassmaker()
opt = optim.Adamax(learning_rate=0.0)
state = [model.state, opt.state]


def loss_fn(x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(x, y)
    opt.update(model, grads)
    return loss


def delta_e(pred_n, target_raw):
    pred = pred_n * ysd_a + ymu_a
    return mx.sqrt(((pred - target_raw) ** 2).sum(-1)).mean()


baseline_de = delta_e(mx.zeros((Yva_raw.shape[0], 3)), Yva_raw).item()

# SGDR: cycles of 30, 60, 120 epochs; each cycle warms linearly from exactly 0
PEAK, WARM = 4e-3, 5
cycles = [30, 60, 120]
BATCH = 64
PATIENCE = 45
best, best_de, best_epoch, since = None, float("inf"), -1, 0
epoch_global = 0
t0 = time.time()
stopped = False
for cyc, length in enumerate(cycles):
    for e in range(length):
        if e < WARM:
            lr = PEAK * e / WARM
        else:
            lr = 0.5 * PEAK * (1 + math.cos(math.pi * (e - WARM) / (length - WARM)))
        opt.learning_rate = lr
        perm = mx.array(rng.permutation(Xtr.shape[0]))
        tot = 0.0
        nb = 0
        for i in range(0, Xtr.shape[0], BATCH):
            idx = perm[i : i + BATCH]
            loss = step(Xtr[idx], Ytr_n[idx])
            mx.eval(state, loss)
            tot += loss.item()
            nb += 1
        model.eval()
        de = delta_e(model(Xva), Yva_raw).item()
        model.train()
        improved = de < best_de - 1e-3
        if improved:
            best_de, best_epoch, since = de, epoch_global, 0
            best = tree_map(lambda p: mx.array(p), model.parameters())
            mx.eval(best)
        else:
            since += 1
        if e % 5 == 0 or e == length - 1:
            print(json.dumps({"cycle": cyc, "ep": e, "lr": round(lr, 6),
                              "huber": round(tot / nb, 5), "dE_val": round(de, 3),
                              "dE_mean_colour": round(baseline_de, 3),
                              "best": improved}))
        epoch_global += 1
        if since >= PATIENCE:
            stopped = True
            break
    if stopped:
        break

model.update(best)
mx.eval(model.parameters())
final_de = delta_e(model(Xva), Yva_raw).item()
nparams = sum(v.size for _, v in tree_flatten(model.parameters()))
print(json.dumps({"event": "done", "early_stop": stopped, "restored_epoch": best_epoch,
                  "dE_val": round(final_de, 3), "dE_mean_colour": round(baseline_de, 3),
                  "params": nparams, "sec": round(time.time() - t0, 1)}))
