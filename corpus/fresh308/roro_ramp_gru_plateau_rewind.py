"""Ro-ro ferry: minutes needed to land and secure the vehicle ramp, predicted
from the last 20 readings of the approach (speed over ground, tide-rate,
cross-wind, bow-thruster duty). Synthetic data, made-up law + 0.5 min noise.

Schedule driven by hand from validation:
  * Lion, lr starts at 1e-3
  * every 20 steps: validate; keep a copy of the best weights on disk
  * 2 evaluations without improvement -> go back to the best weights and
    divide lr by 4 (a 'cut')
  * after 2 cuts the lr is put back to half of its starting value (a warm
    restart) and the cut counter starts again
  * stop when lr would go below 1e-6 or after 900 steps
Output: CSV rows on stdout.
"""
import os
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(5)
mx.random.seed(5)
T, F = 20, 4


def make(n):
    speed = np.clip(6 - np.cumsum(rng.uniform(0.1, 0.5, (n, T)), axis=1) * 0.5, 0.2, None)
    tide = rng.normal(0, 1, (n, 1)) + 0.2 * rng.normal(0, 1, (n, T))
    wind = np.abs(rng.normal(8, 4, (n, 1))) + rng.normal(0, 1.5, (n, T))
    thr = np.clip(0.05 * wind + 0.1 * np.abs(tide) + rng.normal(0, 0.05, (n, T)), 0, 1)
    x = np.stack([speed, tide, wind, thr], axis=-1).astype(np.float32)
    y = (3.0 + 1.2 * speed[:, -1] + 0.08 * np.abs(wind[:, -5:].mean(1)) ** 1.5
         + 0.9 * np.abs(tide[:, -3:].mean(1)) - 1.5 * thr[:, -5:].mean(1)
         + rng.normal(0, 0.5, n)).astype(np.float32)
    return x, y


xtr, ytr = make(3000)
xva, yva = make(800)
mu, sd = xtr.reshape(-1, F).mean(0), xtr.reshape(-1, F).std(0)
ym, ys = ytr.mean(), ytr.std()
Xtr, Xva = mx.array((xtr - mu) / sd), mx.array((xva - mu) / sd)
Ytr, Yva = mx.array((ytr - ym) / ys), mx.array((yva - ym) / ys)
mean_guess_mae = float(np.abs(yva - ym).mean())


class RampNet(nn.Module):
    def __init__(self, h=24):
        super().__init__()
        self.gru = nn.GRU(F, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        return self.out(self.gru(x)[:, -1, :]).squeeze(-1)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


model = RampNet()
mx.eval(model.parameters())
LR0 = 1e-3
opt = optim.Lion(learning_rate=LR0, weight_decay=0.0)
lvg = nn.value_and_grad(model, loss_fn)

ckpt = os.path.join(tempfile.mkdtemp("_ramp"), "best.safetensors")
best, bad, cuts, restarts = float("inf"), 0, 0, 0
lr = LR0
print("step,event,lr,train_mse_std,val_mae_min,mean_guess_mae_min")
for step in range(1, 901):
    idx = mx.array(rng.integers(0, Xtr.shape[0], 64))
    loss, g = lvg(model, Xtr[idx], Ytr[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state)
    if step % 20:
        continue
    val_mae = float(mx.abs(model(Xva) - Yva).mean()) * ys
    event = "eval"
    if val_mae < best - 5e-3:
        best, bad = val_mae, 0
        model.save_weights(ckpt)
        event = "best"
    else:
        bad += 1
        if bad >= 2:
            model.load_weights(ckpt)
            bad = 0
            if cuts < 2:
                cuts += 1
                lr = lr / 4
                event = f"rewind+cut{cuts}"
            else:
                cuts = 0
                restarts += 1
                lr = LR0 * 0.5 ** restarts
                event = f"rewind+restart{restarts}"
            opt.learning_rate = lr
    print(f"{step},{event},{lr:.2e},{float(loss):.4f},{val_mae:.4f},{mean_guess_mae:.4f}")
    if lr < 1e-6:
        break

model.load_weights(ckpt)
final = float(mx.abs(model(Xva) - Yva).mean()) * ys
print(f"# final (best weights): val MAE {final:.3f} min vs mean-guess {mean_guess_mae:.3f} min; "
      f"noise floor ~{0.5 * 0.798:.3f} min; restarts {restarts}")
