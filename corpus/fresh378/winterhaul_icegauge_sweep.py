"""Winter-road crew: predict lake-ice thickness (cm) at auger holes.

Step 1 sweeps the learning rate on a scratch copy (loss is expected to blow up
at the top of the sweep; that is the point of the sweep).
Step 2 trains a fresh model with the picked rate, saves a checkpoint half way,
reloads it into new objects and finishes the run.
"""
import math
import os
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)


def make_holes(n):
    fdd = rng.uniform(50, 2400, n)            # freezing degree-days since freeze-up
    snow = rng.gamma(2.0, 9.0, n)             # cm of snow on the ice
    wind = rng.uniform(0, 40, n)              # km/h mean wind
    current = rng.beta(1.5, 6.0, n)           # 0..1, inflow/outflow exposure
    slush = (rng.random(n) < 0.12).astype(np.float64)
    h = 2.7 * np.sqrt(fdd) * np.exp(-0.011 * snow) * (1 - 0.35 * current)
    h = h * (1 + 0.002 * wind) - 6.0 * slush
    h = h + rng.normal(0, 2.5, n)             # auger reading scatter
    X = np.stack([fdd, snow, wind, current, slush], 1)
    return X.astype(np.float32), h.astype(np.float32)


Xtr, ytr = make_holes(8000)
Xva, yva = make_holes(1500)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr_m, Xva_m = mx.array((Xtr - mu) / sd), mx.array((Xva - mu) / sd)
ytr_m, yva_m = mx.array((ytr - ymu) / ysd), mx.array((yva - ymu) / ysd)

# crew rule of thumb: h = a * sqrt(FDD), a fitted by least squares
s = np.sqrt(Xtr[:, 0])
a_hat = float((s * ytr).sum() / (s * s).sum())
stefan_rmse = float(np.sqrt(((a_hat * np.sqrt(Xva[:, 0]) - yva) ** 2).mean()))


class IceNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(5, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1)
        )

    def __call__(self, x):
        return self.body(x).squeeze(-1)


def mse(model, x, y):
    return ((model(x) - y) ** 2).mean()


def val_rmse_cm(model):
    err = (model(Xva_m) - yva_m) * ysd
    return math.sqrt((err * err).mean().item())


def batches(bs, seed):
    r = np.random.default_rng(seed)
    while True:
        perm = r.permutation(len(Xtr))
        for i in range(0, len(perm) - bs + 1, bs):
            idx = mx.array(perm[i:i + bs])
            yield Xtr_m[idx], ytr_m[idx]


# ---------------------------------------------------------------- step 1
print(f"holes: {len(Xtr)} train / {len(Xva)} check, thickness {ytr.mean():.1f} +- {ytr.std():.1f} cm")
print(f"rule of thumb h = {a_hat:.2f}*sqrt(FDD): check rmse {stefan_rmse:.2f} cm")
print("lr sweep (scratch model, 1e-5 -> 3.0 over 150 steps)")
scratch = IceNet()
mx.eval(scratch.parameters())
sweep_opt = optim.Adam(learning_rate=1e-5)
sweep_step = nn.value_and_grad(scratch, mse)
gen = batches(128, 0)
lrs = np.geomspace(1e-5, 3.0, 150)
smooth, best, best_lr, hist = None, float("inf"), None, []
for i, lr in enumerate(lrs):
    sweep_opt.learning_rate = float(lr)
    xb, yb = next(gen)
    loss, g = sweep_step(scratch, xb, yb)
    sweep_opt.update(scratch, g)
    mx.eval(scratch.parameters(), sweep_opt.state, loss)
    lv = loss.item()
    smooth = lv if smooth is None else 0.9 * smooth + 0.1 * lv
    corr = smooth / (1 - 0.9 ** (i + 1))
    hist.append((lr, corr))
    if corr < best:
        best, best_lr = corr, lr
    if i % 15 == 0:
        print(f"  sweep {i:3d}  lr {lr:.2e}  smoothed mse {corr:.4f}")
    if not math.isfinite(lv) or corr > 40 * best:
        print(f"  sweep {i:3d}  lr {lr:.2e}  smoothed mse {corr:.4f}  <- stopped (above 40x best)")
        break
peak_lr = best_lr / 10
print(f"lowest smoothed mse {best:.4f} at lr {best_lr:.2e}; using peak lr {peak_lr:.2e}")
del scratch, sweep_opt

# ---------------------------------------------------------------- step 2
TOTAL, HALF, WARM = 1600, 800, 120


def make_opt():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak_lr, WARM), optim.cosine_decay(peak_lr, TOTAL - WARM, peak_lr * 0.05)],
        [WARM],
    )
    return optim.Adam(learning_rate=sched)


model = IceNet()
mx.eval(model.parameters())
opt = make_opt()
print(f"season run: {TOTAL} steps, warm-up from 0 over {WARM}, untrained check rmse {val_rmse_cm(model):.2f} cm")

ckdir = tempfile.mkdtemp()
gen = batches(128, 1)
step_fn = nn.value_and_grad(model, mse)
window = []
for step in range(1, TOTAL + 1):
    if step == HALF + 1:
        # crew change: write the checkpoint, rebuild everything from disk
        model.save_weights(os.path.join(ckdir, "weights.safetensors"))
        mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
        before = val_rmse_cm(model)
        del model, opt, step_fn
        model = IceNet()
        model.load_weights(os.path.join(ckdir, "weights.safetensors"))
        opt = make_opt()
        opt.init(model.trainable_parameters())
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
        step_fn = nn.value_and_grad(model, mse)
        after = val_rmse_cm(model)
        print(f"checkpoint at step {HALF}: reloaded, check rmse {before:.3f} -> {after:.3f} cm, "
              f"optimizer step counter {int(opt.state['step'].item())}")
    xb, yb = next(gen)
    loss, g = step_fn(model, xb, yb)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    if step in (1, 60) or step % 400 == 0:
        lr_now = float(opt.learning_rate.item()) if isinstance(opt.learning_rate, mx.array) else opt.learning_rate
        print(f"step {step:5d}  lr {lr_now:.2e}  train mse(std) {np.mean(window):.4f}  "
              f"check rmse {val_rmse_cm(model):.2f} cm  (rule of thumb {stefan_rmse:.2f}, reading scatter 2.50)")
        window = []

final = val_rmse_cm(model)
print(f"done: check rmse {final:.2f} cm vs rule of thumb {stefan_rmse:.2f} cm")
