"""Cyanotype print lab: predict reflection density of the Prussian-blue print from
exposure and chemistry settings.  Small noisy bench set, so we warm the LR up from 0,
watch a held-out set and keep the best weights (early stopping + restore)."""
import logging
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(name)s: %(message)s")
log = logging.getLogger("cyano")

rng = np.random.default_rng(7)


def make_prints(n):
    minutes = rng.uniform(2, 30, n)          # UV exposure, min
    uv_index = rng.uniform(1, 10, n)
    ratio = rng.uniform(0.8, 1.5, n)         # FAC : ferricyanide
    humidity = rng.uniform(30, 80, n)        # % RH at coating
    sized = rng.integers(0, 2, n).astype(np.float64)
    wash_c = rng.uniform(12, 30, n)          # wash water, deg C
    dose = minutes * uv_index / 60.0
    dmax = 1.55 + 0.25 * sized - 0.35 * (ratio - 1.1) ** 2 - 0.004 * (humidity - 55)
    dens = dmax * (1 - np.exp(-1.3 * dose)) - 0.012 * np.maximum(wash_c - 22, 0) * dose
    dens = dens + rng.normal(0, 0.06, n)
    X = np.stack([minutes, uv_index, ratio, humidity, sized, wash_c], 1)
    return X.astype(np.float32), dens.astype(np.float32)[:, None]


Xtr, ytr = make_prints(160)
Xva, yva = make_prints(120)
Xte, yte = make_prints(400)
mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
Xtr, Xva, Xte = [(a - mu) / sd for a in (Xtr, Xva, Xte)]
Xtr, ytr, Xva, yva, Xte, yte = map(mx.array, (Xtr, ytr, Xva, yva, Xte, yte))


class DensityNet(nn.Module):
    def __init__(self, d=6, h=96):
        super().__init__()
        self.l1 = nn.Linear(d, h)
        self.l2 = nn.Linear(h, h)
        self.l3 = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        x = nn.gelu(self.l1(x))
        x = nn.gelu(self.l2(x))
        x = nn.gelu(self.l3(x))
        return self.out(x)


mx.random.seed(3)
model = DensityNet()
warm = 60
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 4e-3, warm), optim.cosine_decay(4e-3, 3000, 1e-4)], [warm]
)
opt = optim.AdamW(learning_rate=sched, weight_decay=0.0)


def mse(m, x, y):
    return mx.mean((m(x) - y) ** 2)


loss_grad = nn.value_and_grad(model, mse)

# audit: every layer must receive gradient before we start
_, g0 = loss_grad(model, Xtr, ytr)
norms = {k: float(mx.linalg.norm(v)) for k, v in tree_flatten(g0)}
log.info("grad audit: %d tensors, min |g|=%.3e, max |g|=%.3e", len(norms), min(norms.values()), max(norms.values()))
assert min(norms.values()) > 0

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = loss_grad(model, x, y)
    opt.update(model, grads)
    return loss


baseline = float(mx.mean((yva - mx.mean(ytr)) ** 2))
log.info("val baseline (predict train mean): mse=%.4f", baseline)

bs, patience, bad = 32, 25, 0
best_val, best_ep, best_params = math.inf, -1, None
t0 = time.time()
n = Xtr.shape[0]
for ep in range(400):
    perm = mx.array(rng.permutation(n))
    tot = 0.0
    for i in range(0, n, bs):
        idx = perm[i:i + bs]
        loss = step(Xtr[idx], ytr[idx])
        mx.eval(state, loss)
        tot += loss.item() * idx.shape[0]
    tr = tot / n
    va = mse(model, Xva, yva).item()
    lr_now = opt.learning_rate.item()
    if va < best_val - 1e-5:
        best_val, best_ep, bad = va, ep, 0
        best_params = tree_map(lambda a: a, model.parameters())
    else:
        bad += 1
    if ep % 10 == 0 or bad == 0 and ep < 5:
        log.info("ep %3d | lr %.2e | train %.4f | val %.4f | best %.4f@%d | rmse %.3f D",
                 ep, lr_now, tr, va, best_val, best_ep, math.sqrt(va))
    if bad >= patience:
        log.warning("no val gain for %d epochs, stopping at ep %d", patience, ep)
        break

last_val = mse(model, Xva, yva).item()
model.update(best_params)
mx.eval(model.parameters())
rest_val = mse(model, Xva, yva).item()
te = mse(model, Xte, yte).item()
log.info("restore: val last=%.4f -> restored=%.4f (best ep %d, diff %.2e)", last_val, rest_val, best_ep, abs(rest_val - best_val))
log.info("test mse %.4f vs mean-baseline %.4f  (noise floor %.4f)", te, float(mx.mean((yte - mx.mean(ytr)) ** 2)), 0.06 ** 2)
log.info("done in %.1fs", time.time() - t0)
