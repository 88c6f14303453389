"""Quinoa cleaning line: predict residual saponin after scarify + wash.

Residual saponin (mg/g dry seed, lower is better; spec limit 1.1 mg/g) from six line
settings logged at the plant. Data-parallel script that also runs on one process:
gradients go through mx.distributed.all_sum, then early stopping restores the best weights.
"""
import logging
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s [rank%(rank)s] %(message)s")

world = mx.distributed.init()
log = logging.LoggerAdapter(logging.getLogger("saponin"), {"rank": world.rank()})
random.seed(419 + world.rank())
mx.random.seed(419)

VARIETIES = ["real_blanca", "pasankalla", "negra_collana"]
BASE = {"real_blanca": 4.2, "pasankalla": 2.8, "negra_collana": 3.5}


def lot():
    temp = random.uniform(12, 55)        # wash water C
    minutes = random.uniform(2, 14)      # wash time
    rpm = random.uniform(40, 160)        # agitator
    passes = random.randint(0, 3)        # abrasive scarifier passes
    moist = random.uniform(9, 15)        # seed moisture %
    var = random.choice(VARIETIES)
    removal = (0.45 * passes + 0.018 * (temp - 12) + 0.09 * minutes * (1 - math.exp(-rpm / 80))
               - 0.04 * max(0.0, moist - 12.5) ** 2)
    y = BASE[var] * math.exp(-max(removal, 0.0)) + random.gauss(0, 0.08)
    x = [(temp - 33) / 12, (minutes - 8) / 3.5, (rpm - 100) / 35, passes - 1.5, (moist - 12) / 1.7]
    x += [1.0 if var == v else 0.0 for v in VARIETIES]
    return x, max(y, 0.02)


def table(n):
    rows = [lot() for _ in range(n)]
    return mx.array([r[0] for r in rows]), mx.array([r[1] for r in rows])


X_tr, y_tr = table(240)
X_va, y_va = table(400)
X_te, y_te = table(400)
SPEC = 1.1
log.info("world size %d, train %d / valid %d / test %d lots, mean residual %.2f mg/g",
         world.size(), X_tr.shape[0], X_va.shape[0], X_te.shape[0], y_tr.mean().item())


class SaponinNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 96)
        self.l2 = nn.Linear(96, 96)
        self.l3 = nn.Linear(96, 96)
        self.head = nn.Linear(96, 1)

    def __call__(self, x):
        h = nn.relu(self.l1(x))
        h = nn.relu(self.l2(h))
        h = nn.relu(self.l3(h))
        return self.head(h).squeeze(-1) + 2.0


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


model = SaponinNet()
opt = optim.SGD(learning_rate=0.03, momentum=0.9, nesterov=True)
vg = nn.value_and_grad(model, loss_fn)


def sync(grads):
    n = world.size()
    return tree_map(lambda g: mx.distributed.all_sum(g, group=world) / n, grads)


g_check = sync(vg(model, X_tr[:32], y_tr[:32])[1])
dead = [k for k, g in tree_flatten(g_check) if mx.abs(g).max().item() == 0.0]
log.info("gradient check: %d tensors, all-zero: %s", len(tree_flatten(g_check)), dead or "none")


def metrics(x, y):
    p = model(x)
    rmse = mx.sqrt(nn.losses.mse_loss(p, y)).item()
    agree = mx.mean((p <= SPEC) == (y <= SPEC)).item() * 100
    return rmse, agree


base_rmse = math.sqrt(((y_va - y_tr.mean()) ** 2).mean().item())
best, best_ep, wait, patience = float("inf"), -1, 0, 25
best_params = None
BS = 24
for epoch in range(1, 401):
    order = list(range(X_tr.shape[0]))
    random.shuffle(order)
    tot = 0.0
    for i in range(0, len(order), BS):
        idx = mx.array(order[i:i + BS])
        loss, grads = vg(model, X_tr[idx], y_tr[idx])
        opt.update(model, sync(grads))
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item() * idx.shape[0]
    va_rmse, va_agree = metrics(X_va, y_va)
    if va_rmse < best - 1e-4:
        best, best_ep, wait = va_rmse, epoch, 0
        best_params = tree_map(lambda p: mx.array(p), model.parameters())
        mx.eval(best_params)
    else:
        wait += 1
    if epoch % 10 == 0 or wait == 0 and epoch <= 5:
        log.info("ep %3d  train_mse %.4f  val_rmse %.3f mg/g (mean-guess %.3f)  spec_agree %.1f%%  wait %d",
                 epoch, tot / X_tr.shape[0], va_rmse, base_rmse, va_agree, wait)
    if wait >= patience:
        log.warning("no val improvement for %d epochs; stopping at ep %d, best ep %d", patience, epoch, best_ep)
        break

last_rmse, _ = metrics(X_va, y_va)
model.update(best_params)
mx.eval(model.parameters())
te_rmse, te_agree = metrics(X_te, y_te)
log.info("restored ep %d weights: val_rmse %.3f (last %.3f); TEST rmse %.3f mg/g, spec agreement %.1f%%",
         best_ep, metrics(X_va, y_va)[0], last_rmse, te_rmse, te_agree)
