"""Tug-of-war club: how far the rope centre mark drifts (cm over a 10 s heave)
from team readings. Two-stage curriculum (grass pulls first, then every surface),
hand-written Nesterov momentum, learning rate warmed up from exactly 0,
JSON-lines log."""
import json
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map, tree_flatten

rng = np.random.default_rng(2024)
SURFACES = ["grass", "mat", "sand", "wet_sand"]


def pulls(n, surfaces):
    s = rng.choice(surfaces, n)
    sid = np.array([SURFACES.index(v) for v in s])
    mass_gap = rng.normal(0, 40, n)          # kg, our team minus theirs
    grip = rng.uniform(0.3, 1.0, n)          # boot/glove grip score
    lean = rng.uniform(20, 45, n)            # degrees
    sync = rng.uniform(0.4, 1.0, n)          # heave synchrony
    anchor = rng.uniform(70, 120, n)         # anchor mass kg
    fatigue = rng.uniform(0, 8, n)           # minutes already pulled
    friction = np.array([1.0, 0.8, 0.6, 0.35])[sid]
    drift = (0.9 * mass_gap * friction
             + 35 * (grip - 0.65) * friction
             + 1.6 * (lean - 32) * sync
             + 30 * (sync - 0.7)
             + 0.25 * (anchor - 95)
             - 3.0 * fatigue ** 1.3 * (1.2 - sync))
    noise_sd = np.array([4.0, 5.0, 7.0, 10.0])[sid]
    drift = drift + rng.normal(0, 1, n) * noise_sd
    onehot = np.eye(4)[sid]
    X = np.column_stack([mass_gap / 40, (grip - 0.65) / 0.2, (lean - 32) / 7,
                         (sync - 0.7) / 0.17, (anchor - 95) / 15, fatigue / 4 - 1,
                         onehot]).astype(np.float32)
    return mx.array(X), mx.array(drift.astype(np.float32))


class PullNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(10, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = mx.tanh(self.l1(x))
        h = mx.tanh(self.l2(h)) + h
        return self.out(h).squeeze(-1)


def huber(pred, y, delta=8.0):
    r = mx.abs(pred - y)
    return mx.mean(mx.where(r < delta, 0.5 * r * r, delta * (r - 0.5 * delta)))


net = PullNet()
mx.eval(net.parameters())
vel = tree_map(mx.zeros_like, net.parameters())
grad_fn = nn.value_and_grad(net, lambda m, x, y: huber(m(x), y))

stages = [("grass_only", ["grass"], 500, 0.02),
          ("all_surfaces", SURFACES, 900, 0.02)]
Xv_all, yv_all = pulls(800, SURFACES)
warm = 100
mu = 0.9
for name, surf, steps, peak in stages:
    Xtr, ytr = pulls(3000, surf)
    Xv, yv = pulls(600, surf)
    base = math.sqrt(float(mx.mean((yv - mx.mean(ytr)) ** 2).item()))
    for step in range(steps + 1):
        lr = peak * min(1.0, step / warm) * (0.5 * (1 + math.cos(math.pi * step / steps)) * 0.9 + 0.1)
        idx = mx.array(rng.integers(0, Xtr.shape[0], 64))
        loss, g = grad_fn(net, Xtr[idx], ytr[idx])
        # Nesterov: v <- mu v + g ; p <- p - lr (g + mu v)
        vel = tree_map(lambda v, gg: mu * v + gg, vel, g)
        new_p = tree_map(lambda p, gg, v: p - lr * (gg + mu * v), net.parameters(), g, vel)
        net.update(new_p)
        mx.eval(net.parameters(), vel, loss)
        if step % 100 == 0:
            rmse = math.sqrt(float(mx.mean((net(Xv) - yv) ** 2).item()))
            rec = {"stage": name, "step": step, "lr": round(lr, 5),
                   "huber": round(loss.item(), 3), "val_rmse_cm": round(rmse, 2),
                   "mean_baseline_cm": round(base, 2)}
            print(json.dumps(rec))
        if step in (0, steps):
            gn = math.sqrt(sum(float(mx.sum(v * v).item()) for _, v in tree_flatten(g)))
            zero = [k for k, v in tree_flatten(g) if float(mx.abs(v).max().item()) == 0.0]
            print(json.dumps({"audit": name, "step": step, "grad_norm": round(gn, 4),
                              "zero_grad_tensors": zero}))
final = math.sqrt(float(mx.mean((net(Xv_all) - yv_all) ** 2).item()))
print(json.dumps({"summary": True, "holdout_rmse_cm": round(final, 2),
                  "holdout_sd_cm": round(float(np.std(np.array(yv_all))), 2)}))
