"""Saddlery workshop: predict how far a wet-moulded leather skirt stretches (mm)
from six hide / workshop readings. Heteroscedastic Gaussian head (mean, log-var),
warm-up from lr 0, a planned stop after epoch 6 with a save to disk, then a fresh
process-like restart that reloads weights + optimizer state and finishes."""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
N = 2400
thick = rng.uniform(3.0, 6.0, N)          # hide thickness mm
moist = rng.uniform(0.2, 0.8, N)          # water uptake fraction
temp = rng.uniform(15, 35, N)             # workshop temperature C
tan = rng.integers(0, 2, N)               # 0 veg-tan, 1 chrome-tan
age = rng.uniform(0, 24, N)               # months since tanning
noise_col = rng.normal(0, 1, N)           # unrelated column
stretch = (2.0 + 1.5 * moist * (7 - thick) + 0.04 * (temp - 25) ** 2 / 4
           - 0.8 * tan + 0.6 * np.exp(-age / 8))
sigma = 0.15 + 0.25 * moist               # spread grows with water uptake
y = stretch + rng.normal(0, 1, N) * sigma
X = np.stack([thick, moist, temp, tan, age, noise_col], 1)
mu, sd = X[:1800].mean(0), X[:1800].std(0)
X = ((X - mu) / sd).astype(np.float32)
y = y.astype(np.float32)
Xtr, ytr, Xva, yva = mx.array(X[:1800]), mx.array(y[:1800]), mx.array(X[1800:]), mx.array(y[1800:])
noise_floor = float(np.sqrt(np.mean(sigma[1800:] ** 2)))
mean_rmse = float(np.sqrt(np.mean((y[1800:] - y[:1800].mean()) ** 2)))


class Skirt(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 32), nn.SiLU(), nn.Linear(32, 32), nn.SiLU())
        self.out = nn.Linear(32, 2)

    def __call__(self, x):
        o = self.out(self.body(x))
        return o[:, 0], o[:, 1]


def nll(model, x, t):
    m, logv = model(x)
    return mx.mean(0.5 * (logv + (t - m) ** 2 / mx.exp(logv) + math.log(2 * math.pi)))


BATCH, EPOCHS, STOP_AFTER = 60, 12, 6
steps_per_epoch = 1800 // BATCH


def make_opt():
    warm = optim.linear_schedule(0.0, 3e-3, 60)
    cos = optim.cosine_decay(3e-3, EPOCHS * steps_per_epoch - 60, 3e-4)
    return optim.Adam(learning_rate=optim.join_schedules([warm, cos], [60]))


def run_epochs(model, opt, first, last, perm_rng):
    step_fn = nn.value_and_grad(model, nll)
    for ep in range(first, last + 1):
        t0 = time.time()
        perm = perm_rng.permutation(1800)
        tot = 0.0
        for b in range(steps_per_epoch):
            idx = mx.array(perm[b * BATCH:(b + 1) * BATCH])
            loss, g = step_fn(model, Xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        m, logv = model(Xva)
        v_nll = nll(model, Xva, yva).item()
        rmse = mx.sqrt(mx.mean((m - yva) ** 2)).item()
        cover = mx.mean(mx.abs(m - yva) <= 1.645 * mx.exp(0.5 * logv)).item() * 100
        lr = opt.learning_rate.item()
        print(f"| {ep:2d} | {lr:.5f} | {tot / steps_per_epoch:+.4f} | {v_nll:+.4f} | {rmse:.3f} | {cover:5.1f} | {time.time() - t0:.2f} |")


mx.random.seed(3)
model = Skirt()
opt = make_opt()
mx.eval(model.parameters())
perm_rng = np.random.default_rng(5)
print(f"rows 1800 train / 600 valid; mean-guess RMSE {mean_rmse:.3f} mm; noise floor RMSE {noise_floor:.3f} mm")
print(f"lr at step 0 of the warm-up: {optim.linear_schedule(0.0, 3e-3, 60)(0).item():.5f}")
print("| ep | lr | train_nll | valid_nll | valid_rmse_mm | cover90_% | sec |")
print("|---|---|---|---|---|---|---|")
run_epochs(model, opt, 1, STOP_AFTER, perm_rng)

with tempfile.TemporaryDirectory() as d:
    model.save_weights(os.path.join(d, "skirt.safetensors"))
    mx.save_safetensors(os.path.join(d, "opt.safetensors"), dict(tree_flatten(opt.state)))
    del model, opt
    model = Skirt()
    model.load_weights(os.path.join(d, "skirt.safetensors"))
    opt = make_opt()
    opt.init(model.trainable_parameters())
    opt.state = tree_unflatten(list(mx.load(os.path.join(d, "opt.safetensors")).items()))
    mx.eval(model.parameters(), opt.state)
    print(f"resumed from disk at optimizer step {opt.state['step'].item()}")
run_epochs(model, opt, STOP_AFTER + 1, EPOCHS, perm_rng)
print("done")
