"""Tram overhead line: predict contact-wire wear (mm of copper lost per 10k pantograph passes)
from span readings. 5-fold CV, Lion with a warmup that starts at lr = 0, early stopping that
restores the best weights of each fold."""
import logging
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s catenary: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger()

rng = np.random.default_rng(7)
N = 900
tension = rng.uniform(8, 14, N)          # kN
stagger = rng.uniform(-0.3, 0.3, N)      # m, zig-zag offset
speed = rng.uniform(15, 70, N)           # km/h
uplift = rng.uniform(40, 120, N)         # N contact force
curve = rng.uniform(0, 1, N)             # curvature index
ice_days = rng.poisson(6, N).astype(float)
wear = (0.05 * (uplift / 80) ** 2 * (speed / 40) + 0.08 * np.abs(stagger) / 0.3
        - 0.02 * (tension - 11) + 0.06 * curve * (speed / 40) + 0.004 * ice_days
        + 0.03 * np.sin(3 * stagger) * curve)
wear = wear + rng.normal(0, 0.01, N)
X = np.stack([tension, stagger, speed, uplift, curve, ice_days], 1)
X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
y = wear.astype(np.float32)[:, None]


class WearNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        return self.out(h)


def loss_fn(model, xb, yb):
    return nn.losses.mse_loss(model(xb), yb)


folds = np.array_split(rng.permutation(N), 5)
results = []
for k in range(5):
    mx.random.seed(100 + k)
    va = folds[k]
    tr = np.concatenate([folds[j] for j in range(5) if j != k])
    Xtr, ytr, Xva, yva = mx.array(X[tr]), mx.array(y[tr]), mx.array(X[va]), mx.array(y[va])
    model = WearNet()
    sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-4, 60),
                                  optim.cosine_decay(3e-4, 1500, 1e-5)], [60])
    opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)
    vg = nn.value_and_grad(model, loss_fn)
    base_mm = float(np.mean((y[va] - y[tr].mean()) ** 2))
    best, best_ep, best_w, patience = math.inf, -1, None, 0
    log.info("fold %d/5 start: train=%d val=%d, mean-predictor val mse=%.5f", k + 1, len(tr), len(va), base_mm)
    for ep in range(1, 61):
        perm = mx.array(rng.permutation(len(tr)))
        tot = 0.0
        for i in range(0, len(tr), 48):
            idx = perm[i:i + 48]
            loss, g = vg(model, Xtr[idx], ytr[idx])
            if ep == 1 and i == 0 and k == 0:
                zero = [n for n, v in tree_flatten(g) if float(mx.abs(v).sum()) == 0.0]
                log.info("grad audit: %d tensors, zero-grad tensors: %s", len(tree_flatten(g)), zero or "none")
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * idx.shape[0]
        vmse = loss_fn(model, Xva, yva).item()
        if vmse < best - 1e-7:
            best, best_ep, patience = vmse, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
        else:
            patience += 1
        if ep % 10 == 0 or ep == 1:
            log.info("fold %d ep %02d lr=%.2e train_mse=%.5f val_mse=%.5f (best %.5f @%d)",
                     k + 1, ep, opt.learning_rate.item(), tot / len(tr), vmse, best, best_ep)
        if patience >= 8:
            log.info("fold %d early stop at ep %d, restoring ep %d", k + 1, ep, best_ep)
            break
    model.update(best_w)
    mx.eval(model.parameters())
    pred = model(Xva)
    rmse = math.sqrt(loss_fn(model, Xva, yva).item())
    r2 = 100.0 * (1 - (rmse ** 2) / float(np.var(y[va])))
    mae = float(mx.mean(mx.abs(pred - yva)).item())
    results.append((rmse, r2, mae))
    log.info("fold %d done: rmse=%.4f mm (baseline %.4f mm)  R2=%.1f%%  mae=%.4f mm",
             k + 1, rmse, math.sqrt(base_mm), r2, mae)

r = np.array(results)
log.info("CV summary: rmse %.4f +- %.4f mm | R2 %.1f%% +- %.1f | mae %.4f mm",
         r[:, 0].mean(), r[:, 0].std(), r[:, 1].mean(), r[:, 1].std(), r[:, 2].mean())
