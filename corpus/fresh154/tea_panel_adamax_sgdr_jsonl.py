"""Tea blending desk: predict the tasting panel's briskness score (0-10) of a leaf lot.

Adamax, LR ramps up from exactly 0, then cosine warm restarts (SGDR). Compiled step.
Early stopping on validation RMSE with restore of the best weights. One JSON line per epoch.
"""
import json
import math
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(7)


def make_lots(n):
    # withering h, oxidation %, roll pressure, leaf grade (0..4), altitude km, monsoon flush flag, tip share
    wither = rng.uniform(8, 20, n)
    oxid = rng.uniform(40, 95, n)
    press = rng.uniform(0.5, 3.0, n)
    grade = rng.integers(0, 5, n).astype(np.float64)
    alt = rng.uniform(0.2, 2.2, n)
    monsoon = (rng.random(n) < 0.35).astype(np.float64)
    tips = rng.beta(2, 6, n)
    score = (
        4.0
        + 1.6 * np.tanh((oxid - 70) / 12)
        - 0.04 * (wither - 14) ** 2
        + 0.7 * np.log1p(press) * (1 - 0.5 * monsoon)
        + 0.35 * grade
        + 0.9 * alt * (1 - tips)
        + 3.0 * tips
        - 0.8 * monsoon
        + rng.normal(0, 0.3, n)
    )
    X = np.stack([wither, oxid, press, grade, alt, monsoon, tips], 1)
    return X.astype(np.float32), np.clip(score, 0, 10).astype(np.float32)


Xtr, ytr = make_lots(2400)
Xva, yva = make_lots(600)
mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))
baseline_rmse = float(np.sqrt(np.mean((np.array(yva) - np.array(ytr).mean()) ** 2)))


class Taster(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)


mx.random.seed(3)
model = Taster()
opt = optim.Adamax(learning_rate=0.0)
state = [model.state, opt.state]


def mse(m, x, y):
    return nn.losses.mse_loss(m(x), y)


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, g = nn.value_and_grad(model, mse)(model, x, y)
    opt.update(model, g)
    return loss


WARM_STEPS, CYCLE_EPOCHS, PEAK, BATCH = 60, [6, 12, 24], 0.02, 64
steps_per_epoch = Xtr.shape[0] // BATCH


def lr_at(epoch_in_cycle, k, cycle_len, global_step):
    if global_step < WARM_STEPS:
        return PEAK * global_step / WARM_STEPS  # exactly 0 at step 0
    frac = (epoch_in_cycle * steps_per_epoch + k) / (cycle_len * steps_per_epoch)
    return 0.5 * PEAK * (1 + math.cos(math.pi * frac))


best, best_w, bad, patience, gstep = float("inf"), None, 0, 14, 0
stopped = False
for cycle, clen in enumerate(CYCLE_EPOCHS):
    for ep in range(clen):
        perm = mx.array(rng.permutation(Xtr.shape[0]))
        tot, lr_start = 0.0, None
        for k in range(steps_per_epoch):
            idx = perm[k * BATCH : (k + 1) * BATCH]
            opt.learning_rate = mx.array(lr_at(ep, k, clen, gstep))
            if lr_start is None:
                lr_start = lr_at(ep, k, clen, gstep)
            loss = step(Xtr[idx], ytr[idx])
            mx.eval(state, loss)
            tot += loss.item()
            gstep += 1
        pred = model(Xva)
        rmse = mx.sqrt(mx.mean((pred - yva) ** 2)).item()
        r2 = 100 * (1 - rmse**2 / baseline_rmse**2)
        print(json.dumps({"cycle": cycle, "epoch": ep, "lr_start": round(lr_start, 6), "lr_end": round(float(opt.learning_rate.item()), 6),
                          "train_mse": round(tot / steps_per_epoch, 4), "val_rmse": round(rmse, 4),
                          "mean_baseline_rmse": round(baseline_rmse, 4), "r2_pct": round(r2, 2)}))
        if rmse < best - 1e-4:
            best, bad = rmse, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
        else:
            bad += 1
            if bad >= patience:
                stopped = True
                break
    if stopped:
        break

model.update(best_w)
final = mx.sqrt(mx.mean((model(Xva) - yva) ** 2)).item()
print(json.dumps({"event": "summary", "early_stop": stopped, "steps": gstep, "restored_val_rmse": round(final, 4),
                  "best_val_rmse": round(best, 4), "n_params": sum(v.size for _, v in tree_flatten(model.parameters()))}))
