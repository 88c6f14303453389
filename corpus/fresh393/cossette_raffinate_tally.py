"""Sugar-beet factory: sucrose left in the exhausted pulp (% on beet) from six
diffuser readings.  Inputs are jittered with Gaussian noise whose scale is
annealed from 0.8 to 0 over the first 1800 steps; the run is stopped at step
1200, written to disk, and resumed into fresh objects."""

import json
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)

N_TRAIN, N_VAL = 6000, 1500
NOISE_SD = 0.05


def make_campaign(n):
    thick = rng.uniform(1.5, 3.5, n)       # cossette thickness, mm
    temp = rng.uniform(66, 74, n)          # diffuser temperature, C
    draft = rng.uniform(95, 125, n)        # draft, % on beet
    ph = rng.uniform(5.2, 6.6, n)          # juice pH
    pol = rng.uniform(15, 19.5, n)         # beet sugar content, %
    minutes = rng.uniform(60, 110, n)      # residence time
    y = (0.35
         + 0.18 * (thick - 2.5) ** 2 + 0.09 * (thick - 2.5)
         - 0.012 * (temp - 70) - 0.0015 * (temp - 70) ** 2
         - 0.006 * (draft - 110)
         + 0.05 * np.tanh(2.0 * (ph - 5.9))
         + 0.03 * (pol - 17)
         + 0.25 * np.exp(-(minutes - 60) / 18.0))
    y = y + NOISE_SD * rng.standard_normal(n)
    x = np.stack([thick, temp, draft, ph, pol, minutes], axis=1)
    return x.astype(np.float32), y.astype(np.float32)


xtr, ytr = make_campaign(N_TRAIN)
xva, yva = make_campaign(N_VAL)
mu, sd = xtr.mean(0), xtr.std(0)
xtr = (xtr - mu) / sd
xva = (xva - mu) / sd
ymu, ysd = float(ytr.mean()), float(ytr.std())
Xtr, Ytr = mx.array(xtr), mx.array((ytr - ymu) / ysd)
Xva, Yva = mx.array(xva), mx.array(yva)


class PulpNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = h + nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1)


TOTAL, STOP_AT, ANNEAL, WARM, BATCH = 2400, 1200, 1800, 100, 64
PEAK_LR = 3e-3


def schedule():
    return optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARM),
         optim.cosine_decay(PEAK_LR, TOTAL - WARM, 5e-5)],
        [WARM])


def jitter_scale(step):
    if step >= ANNEAL:
        return 0.0
    return 0.8 * 0.5 * (1.0 + math.cos(math.pi * step / ANNEAL))


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def val_rmse(model):
    pred = model(Xva) * ysd + ymu
    return math.sqrt(mx.mean((pred - Yva) ** 2).item())


const_rmse = float(np.sqrt(np.mean((yva - ymu) ** 2)))


def run(model, opt, start, stop, tag):
    grad_fn = nn.value_and_grad(model, loss_fn)
    win_noisy, win_clean = [], []
    t0 = time.perf_counter()
    for step in range(start, stop):
        idx = mx.array(rng.integers(0, N_TRAIN, BATCH))
        xb, yb = Xtr[idx], Ytr[idx]
        s = jitter_scale(step)
        xn = xb + s * mx.random.normal(xb.shape)
        lr_used = float(opt.learning_rate.item())
        loss, grads = grad_fn(model, xn, yb)
        opt.update(model, grads)
        clean = loss_fn(model, xb, yb)
        mx.eval(model.parameters(), opt.state, loss, clean)
        win_noisy.append(loss.item())
        win_clean.append(clean.item())
        if (step + 1) % 200 == 0 or step == start:
            print(f"run={tag} step={step + 1} jitter={s:.3f} lr={lr_used:.2e} "
                  f"noisy_mse={np.mean(win_noisy):.4f} clean_mse={np.mean(win_clean):.4f} "
                  f"val_rmse={val_rmse(model):.4f} const_rmse={const_rmse:.4f} "
                  f"floor={NOISE_SD:.3f} secs={time.perf_counter() - t0:.1f}")
            win_noisy, win_clean = [], []


print(f"event=data train={N_TRAIN} val={N_VAL} target_sd={ysd:.4f} "
      f"const_rmse={const_rmse:.4f} floor={NOISE_SD:.3f}")

model = PulpNet()
opt = optim.AdamW(learning_rate=schedule(), weight_decay=1e-4)
mx.eval(model.parameters())
print(f"event=untrained val_rmse={val_rmse(model):.4f}")
run(model, opt, 0, STOP_AT, "first")

ckpt = os.path.join(tempfile.mkdtemp(), "diffuser")
os.makedirs(ckpt)
model.save_weights(os.path.join(ckpt, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckpt, "meta.json"), "w") as f:
    json.dump({"step": STOP_AT}, f)
before = val_rmse(model)
del model, opt
print(f"event=saved dir={ckpt} val_rmse={before:.4f}")

with open(os.path.join(ckpt, "meta.json")) as f:
    meta = json.load(f)
model = PulpNet()
model.load_weights(os.path.join(ckpt, "weights.safetensors"))
opt = optim.AdamW(learning_rate=schedule(), weight_decay=1e-4)
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
mx.eval(model.parameters(), opt.state)
after = val_rmse(model)
print(f"event=resumed step={meta['step']} opt_step={int(opt.step.item())} "
      f"val_rmse={after:.4f} match={abs(after - before) < 1e-6}")
run(model, opt, meta["step"], TOTAL, "second")

final = val_rmse(model)
print(f"event=done val_rmse={final:.4f} const_rmse={const_rmse:.4f} "
      f"skill={1 - final ** 2 / const_rmse ** 2:.3f} floor={NOISE_SD:.3f}")
