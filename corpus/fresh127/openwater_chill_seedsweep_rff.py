"""Open-water swimming: core-temperature drop (deg C per hour) of a swimmer from
water temperature, wetsuit thickness, body-fat %, pace and wind chop.

Random Fourier feature front end is frozen on purpose (fixed kernel features),
only the readout MLP trains. Three seeds, each trained from scratch with a
compiled SGD-Nesterov step; a summary table compares the seeds with the
'rule of thumb' baseline.
"""
import logging
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s chill: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("chill")


def swims(rng, n):
    water = rng.uniform(8.0, 24.0, n)          # deg C
    suit = rng.choice([0.0, 2.0, 3.0, 5.0], n)  # mm neoprene
    fat = rng.uniform(8.0, 32.0, n)             # body fat %
    pace = rng.uniform(1.2, 2.4, n)             # min per 100 m
    chop = rng.uniform(0.0, 1.0, n)             # 0 calm .. 1 rough
    insul = 1.0 + 0.35 * suit + 0.04 * fat
    drop = 1.9 * np.exp(-(water - 8.0) / 7.0) / insul * (1.0 + 0.25 * chop) + 0.12 * (pace - 1.2)
    drop = drop + rng.normal(0.0, 0.04, n)
    X = np.stack([water, suit, fat, pace, chop], 1).astype(np.float32)
    return X, drop.astype(np.float32)[:, None]


data_rng = np.random.default_rng(2024)
Xtr, ytr = swims(data_rng, 3000)
Xva, yva = swims(data_rng, 800)
m, s = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = mx.array((Xtr - m) / s), mx.array((Xva - m) / s)
ytr, yva = mx.array(ytr), mx.array(yva)
var_va = float(mx.var(yva))


class ChillNet(nn.Module):
    def __init__(self, n_feat=96):
        super().__init__()
        self.rff = nn.Linear(5, n_feat)          # frozen random projection
        self.readout = nn.Sequential(nn.Linear(n_feat + 5, 48), nn.ReLU(), nn.Linear(48, 1))

    def __call__(self, x):
        phi = mx.cos(self.rff(x)) * math.sqrt(2.0 / self.rff.weight.shape[0])
        return self.readout(mx.concatenate([phi, x], axis=1))


def mse(model, x, y):
    return mx.mean(mx.square(model(x) - y))


def rule_of_thumb(Xstd):
    # coach's rule: 0.1 deg C/h per degree below 20 C water, ignoring the suit
    water = Xstd[:, 0:1] * s[0] + m[0]
    return mx.maximum(0.0, 0.1 * (20.0 - water))


base_r2 = 1.0 - float(mx.mean(mx.square(rule_of_thumb(Xva) - yva))) / var_va
log.info("rows train=%d val=%d  val var=%.4f (degC/h)^2  rule-of-thumb R2=%.1f%%",
         Xtr.shape[0], Xva.shape[0], var_va, 100 * base_r2)

results = []
for seed in (3, 17, 29):
    mx.random.seed(seed)
    shuf = np.random.default_rng(seed)
    model = ChillNet()
    model.rff.freeze()
    mx.eval(model.parameters())
    rff_before = np.array(model.rff.weight)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))

    opt = optim.SGD(learning_rate=optim.step_decay(0.05, 0.5, 300), momentum=0.9, nesterov=True)
    vg = nn.value_and_grad(model, mse)
    _, g = vg(model, Xtr[:256], ytr[:256])
    gmin = min(float(mx.linalg.norm(v)) for _, v in tree_flatten(g))
    log.info("seed=%d params trainable=%d/%d (rff frozen)  min grad norm=%.2e", seed, n_train, n_all, gmin)

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = vg(model, x, y)
        opt.update(model, grads)
        return loss

    va0 = mse(model, Xva, yva).item()
    log.info("seed=%d it=   0 untrained val_rmse=%.4f degC/h val_R2=%.1f%%", seed, math.sqrt(va0), 100 * (1 - va0 / var_va))
    t0 = time.time()
    for it in range(1, 1201):
        idx = mx.array(shuf.integers(0, Xtr.shape[0], 64))
        loss = step(Xtr[idx], ytr[idx])
        mx.eval(state, loss)
        if it % 150 == 0:
            va = mse(model, Xva, yva).item()
            log.info("seed=%d it=%4d lr=%.4f batch_mse=%.5f val_rmse=%.4f degC/h val_R2=%.1f%%",
                     seed, it, float(opt.learning_rate), loss.item(), math.sqrt(va), 100 * (1 - va / var_va))
    va = mse(model, Xva, yva).item()
    drift = float(np.abs(np.array(model.rff.weight) - rff_before).max())
    log.info("seed=%d done in %.1fs  frozen rff max|dW|=%.1e", seed, time.time() - t0, drift)
    results.append((seed, math.sqrt(va), 100 * (1 - va / var_va), drift))

print()
print("| seed | val RMSE (degC/h) | val R2 | rule-of-thumb R2 | rff drift |")
print("|-----:|------------------:|-------:|-----------------:|----------:|")
for seed, rmse, r2, drift in results:
    print(f"| {seed:4d} | {rmse:17.4f} | {r2:5.1f}% | {100 * base_r2:15.1f}% | {drift:9.1e} |")
r2s = [r for _, _, r, _ in results]
print(f"mean R2 {np.mean(r2s):.1f}% +/- {np.std(r2s):.1f}")
