"""Cold-process soap: how many minutes until the batter reaches trace.

Bench sheet features: lye concentration %, batter temperature C, stick-blender
seconds, hard-oil share, accelerating-fragrance flag, superfat %.
Target is log(minutes). 3-fold cross validation; each fold starts from fresh
weights, warms the learning rate up from 0, and keeps the best-validation
weights (early stopping with restore).
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s soapbench: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("soap")

rng = np.random.default_rng(2024)
N = 1800
lye = rng.uniform(25, 40, N)
temp = rng.uniform(24, 55, N)
blend = rng.uniform(5, 90, N)
hard = rng.uniform(0.1, 0.8, N)
accel = (rng.random(N) < 0.25).astype(np.float64)
superfat = rng.uniform(0, 10, N)
log_min = (3.4 - 0.045 * (lye - 32) - 0.028 * (temp - 38) - 0.9 * np.log(blend / 30)
           - 1.1 * (hard - 0.45) - 1.3 * accel + 0.03 * superfat
           + 0.35 * np.sin(hard * 6) * (temp > 40) + rng.normal(0, 0.12, N))
X = np.stack([lye, temp, blend, hard, accel, superfat], 1)
X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
Y = log_min.astype(np.float32)


@mx.custom_function
def log_cosh_loss(pred, target):
    r = pred - target
    return mx.mean(mx.abs(r) + mx.log1p(mx.exp(-2 * mx.abs(r))) - math.log(2.0))


@log_cosh_loss.vjp
def log_cosh_vjp(primals, cotangent, output):
    pred, target = primals
    g = mx.tanh(pred - target) * cotangent / pred.size
    return g, -g


class TraceNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return log_cosh_loss(model(x), y)


folds = np.array_split(rng.permutation(N), 3)
EPOCHS, BATCH, PEAK, WARM_STEPS, PATIENCE = 60, 64, 0.03, 100, 8
results = []
t_all = time.time()

for k in range(3):
    va = folds[k]
    tr = np.concatenate([folds[j] for j in range(3) if j != k])
    xtr, ytr = mx.array(X[tr]), mx.array(Y[tr])
    xva, yva = mx.array(X[va]), mx.array(Y[va])
    base_mae = float(np.mean(np.abs(np.exp(Y[va]) - np.exp(Y[tr].mean()))))

    mx.random.seed(100 + k)
    model = TraceNet()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True)
    state = [model.state, opt.state]

    def step_fn(x, y, lr):
        opt.learning_rate = lr
        loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
        opt.update(model, grads)
        return loss

    step = mx.compile(step_fn, inputs=state, outputs=state)

    best, best_w, bad, it = float("inf"), None, 0, 0
    log.info("fold=%d train=%d val=%d baseline_mae_min=%.2f", k + 1, len(tr), len(va), base_mae)
    for ep in range(1, EPOCHS + 1):
        perm = mx.array(rng.permutation(len(tr)))
        tot = 0.0
        nb = 0
        for s in range(0, len(tr), BATCH):
            ids = perm[s:s + BATCH]
            lr = PEAK * min(1.0, it / WARM_STEPS)
            loss = step(xtr[ids], ytr[ids], mx.array(lr))
            mx.eval(state, loss)
            tot += loss.item()
            nb += 1
            it += 1
        pv = model(xva)
        vloss = log_cosh_loss(pv, yva).item()
        mae = mx.mean(mx.abs(mx.exp(pv) - mx.exp(yva))).item()
        if vloss < best - 1e-5:
            best, bad = vloss, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
        else:
            bad += 1
        if ep % 5 == 0 or ep == 1:
            log.info("fold=%d epoch=%02d step=%d train=%.4f val=%.4f mae_min=%.2f lr=%.4f bad=%d",
                     k + 1, ep, it, tot / nb, vloss, mae, lr, bad)
        if bad >= PATIENCE:
            log.info("fold=%d early stop at epoch %d (best val %.4f)", k + 1, ep, best)
            break
    model.update(best_w)
    mx.eval(model.parameters())
    pv = model(xva)
    mae = mx.mean(mx.abs(mx.exp(pv) - mx.exp(yva))).item()
    log.info("fold=%d restored best: val=%.4f mae_min=%.2f (baseline %.2f)", k + 1,
             log_cosh_loss(pv, yva).item(), mae, base_mae)
    results.append((mae, base_mae))

maes = [m for m, _ in results]
log.info("cv mae_min=%.2f +- %.2f vs baseline %.2f, %.1fs", np.mean(maes), np.std(maes),
         np.mean([b for _, b in results]), time.time() - t_all)
