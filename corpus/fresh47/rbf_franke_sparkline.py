# Radial-basis-function network regressing Franke's 2-D test function.
# 48 Gaussian units with learnable centres and per-unit log-widths, linear read-out.
# Silent while training; at the end prints a sparkline of the per-epoch test MSE.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


def franke(x, y):
    return (0.75 * np.exp(-((9 * x - 2) ** 2) / 4 - ((9 * y - 2) ** 2) / 4)
            + 0.75 * np.exp(-((9 * x + 1) ** 2) / 49 - (9 * y + 1) / 10)
            + 0.5 * np.exp(-((9 * x - 7) ** 2) / 4 - ((9 * y - 3) ** 2) / 4)
            - 0.2 * np.exp(-((9 * x - 4) ** 2) - (9 * y - 7) ** 2))


rng = np.random.default_rng(42)
NOISE = 0.02
Xtr = rng.uniform(size=(6000, 2)).astype(np.float32)
ytr = (franke(*Xtr.T) + NOISE * rng.normal(size=6000)).astype(np.float32)
gx, gy = np.meshgrid(np.linspace(0, 1, 40), np.linspace(0, 1, 40))
Xte = np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)
yte = franke(*Xte.T).astype(np.float32)


def kmeans(x, k, iters=8):
    c = x[rng.choice(len(x), k, replace=False)]
    for _ in range(iters):
        lab = ((x[:, None] - c[None]) ** 2).sum(-1).argmin(1)
        for j in range(k):
            if (lab == j).any():
                c[j] = x[lab == j].mean(0)
    return c


class RBFNet(nn.Module):
    def __init__(self, centres, width=0.12):
        super().__init__()
        self.centres = mx.array(centres)
        self.log_width = mx.full((centres.shape[0],), math.log(width))
        self.readout = nn.Linear(centres.shape[0], 1)

    def __call__(self, x):
        d2 = ((x[:, None, :] - self.centres[None]) ** 2).sum(-1)
        phi = mx.exp(-0.5 * d2 / mx.exp(2 * self.log_width))
        return self.readout(phi).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y, reduction="mean")


mx.random.seed(1)
model = RBFNet(kmeans(Xtr.copy(), 48))
EPOCHS, BS = 90, 50
steps_per_epoch = len(Xtr) // BS
sched = optim.step_decay(1e-2, 0.5, 30 * steps_per_epoch)
opt = optim.Adam(learning_rate=sched)
vg = nn.value_and_grad(model, loss_fn)

_, g0 = vg(model, mx.array(Xtr[:BS]), mx.array(ytr[:BS]))
flat = tree_flatten(g0)
dead = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
assert not dead, f"leaves with zero gradient at step 0: {dead}"

xtr, ytr_m, xte, yte_m = map(mx.array, (Xtr, ytr, Xte, yte))
history, t0 = [], time.time()
base_mse = float(np.mean((yte - ytr.mean()) ** 2))
for epoch in range(EPOCHS):
    perm = mx.array(rng.permutation(len(Xtr)))
    for s in range(steps_per_epoch):
        idx = perm[s * BS:(s + 1) * BS]
        loss, grads = vg(model, xtr[idx], ytr_m[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
    history.append(loss_fn(model, xte, yte_m).item())

bars = "▁▂▃▄▅▆▇█"
lo, hi = math.log(min(history)), math.log(max(history))
spark = "".join(bars[min(7, int((math.log(h) - lo) / (hi - lo + 1e-12) * 8))] for h in history)
widths = np.exp(np.array(model.log_width))
print(f"RBF net, {len(flat)} parameter leaves (all non-zero grad at step 0), "
      f"{EPOCHS} epochs in {time.time() - t0:.1f}s")
print(f"test MSE (log scale, epoch 1..{EPOCHS}): {spark}")
print(f"test MSE first={history[0]:.5f} best={min(history):.5f} last={history[-1]:.5f} "
      f"| predict-mean baseline={base_mse:.5f} | label noise var={NOISE ** 2:.5f}")
print(f"unit widths: min={widths.min():.3f} median={np.median(widths):.3f} max={widths.max():.3f}")
