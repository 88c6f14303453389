"""Crokinole night: predict how far (cm) a flicked disc stops from the centre "20" hole.

Stage "open" trains on shots with the peg ring cleared only; stage "pegs" then adds
shots that glance off the 8 rubber pegs (extra deflection term + more scatter), so the loss jumps up before
it settles again. The learning rate warms up from exactly 0 at the start of each stage.
One JSON object per logged step.
"""
import json
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(2024)
N_FEAT = 6  # flick angle, flick speed, english (spin), board tilt, wax level, peg-hit flag


def shots(n, peg_share):
    a = mx.random.uniform(-1.0, 1.0, (n, 5))
    peg = (mx.random.uniform(shape=(n, 1)) < peg_share).astype(mx.float32)
    ang, spd, spin, tilt, wax = [a[:, i : i + 1] for i in range(5)]
    # made-up physics: distance to the centre hole in cm
    base = 40 + 25 * spd**2 - 18 * spin + 12 * tilt * spd - 6 * wax + 9 * ang * spin
    rough = peg * (30 * mx.abs(spd) + 15 * mx.sin(3 * ang) + 10 * spin * tilt)
    noise = (2.0 + 6.0 * peg) * mx.random.normal((n, 1))
    y = base + rough + noise
    return mx.concatenate([a, peg], axis=1), y / 100.0  # metres


class Flicker(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(N_FEAT, 48), nn.GELU(), nn.Linear(48, 48), nn.GELU(), nn.Linear(48, 1))

    def __call__(self, x):
        return self.net(x)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y, reduction="mean")


model = Flicker()
loss_and_grad = nn.value_and_grad(model, mse)
stages = [("open", 0.0, 400), ("pegs", 0.5, 500)]
x_hold, y_hold = shots(1024, 0.5)
warm = 60

for stage, share, n_steps in stages:
    opt = optim.Adamax(learning_rate=0.0)
    x_tr, y_tr = shots(4096, share)
    baseline = mx.mean((y_tr - y_tr.mean()) ** 2).item()  # predict-the-mean reference
    for step in range(n_steps):
        lr = 4e-3 * min(1.0, step / warm) * (0.5 * (1 + math.cos(math.pi * step / n_steps)))
        opt.learning_rate = lr
        idx = mx.random.randint(0, x_tr.shape[0], (128,))
        loss, grads = loss_and_grad(model, x_tr[idx], y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 50 == 0 or step == n_steps - 1:
            hold = mse(model, x_hold, y_hold).item()
            rmse_cm = 100 * math.sqrt(hold)
            print(json.dumps({"stage": stage, "step": step, "lr": round(lr, 6),
                              "mse": round(loss.item(), 5), "mean_baseline_mse": round(baseline, 5),
                              "holdout_rmse_cm": round(rmse_cm, 2)}))

final = mse(model, x_hold, y_hold).item()
ref = mx.mean((y_hold - y_hold.mean()) ** 2).item()
print(json.dumps({"summary": True, "holdout_mse": round(final, 5), "holdout_mean_baseline": round(ref, 5),
                  "r2": round(1 - final / ref, 4)}))
