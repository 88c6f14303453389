"""Digital elevation model from scattered GPS survey shots: a Gaussian
radial-basis-function network (learned centres, widths and heights) fitted
to 3000 noisy spot heights of a synthetic valley.

Gradient accumulation: 4 micro-batches of 96 shots per optimiser step.
Reports are YAML-ish blocks (one per 'survey day').
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(21)


def terrain(xy):
    x, y = xy[:, 0], xy[:, 1]
    ridge = 120.0 * mx.exp(-((x - 0.3) ** 2) / 0.08)
    valley = -60.0 * mx.exp(-((y + 0.2 - 0.3 * mx.sin(3.0 * x)) ** 2) / 0.02)
    hill = 80.0 * mx.exp(-((x + 0.5) ** 2 + (y - 0.5) ** 2) / 0.05)
    return 400.0 + ridge + valley + hill + 15.0 * x


shots = mx.random.uniform(-1.0, 1.0, (3600, 2))
elev = terrain(shots) + 1.5 * mx.random.normal((3600,))      # GPS vertical noise ~1.5 m
tr_xy, tr_z = shots[:3000], elev[:3000]
chk_xy, chk_z = shots[3000:], terrain(shots[3000:])          # check points (true surface)
Z_MEAN, Z_STD = tr_z.mean().item(), mx.std(tr_z).item()


class RBFSurface(nn.Module):
    def __init__(self, k=96):
        super().__init__()
        self.centres = mx.random.uniform(-1.0, 1.0, (k, 2))
        self.log_width = mx.full((k,), math.log(0.25))
        self.height = 0.1 * mx.random.normal((k,))
        self.base = mx.zeros((1,))

    def __call__(self, xy):
        d2 = ((xy[:, None, :] - self.centres[None]) ** 2).sum(-1)
        phi = mx.exp(-d2 / (2.0 * mx.exp(self.log_width) ** 2))
        return phi @ self.height + self.base


model = RBFSurface()
mx.eval(model.parameters())


def loss_fn(model, xy, z):
    return nn.losses.mse_loss(model(xy), (z - Z_MEAN) / Z_STD)


grad_fn = nn.value_and_grad(model, loss_fn)
opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)

# gradient check on one micro-batch before any update
_, g0 = grad_fn(model, tr_xy[:96], tr_z[:96])
dead = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0.0]
print("preflight:")
print(f"  leaves: {len(tree_flatten(g0))}")
print(f"  zero_grad_leaves: {dead if dead else 'none'}")
print(f"  flat_surface_rmse_m: {mx.std(chk_z).item():.2f}")

ACCUM, MICRO, DAYS, STEPS_PER_DAY = 4, 96, 10, 200
t0 = time.time()
for day in range(1, DAYS + 1):
    window = []
    for _ in range(STEPS_PER_DAY):
        acc = None
        for _ in range(ACCUM):
            idx = mx.random.randint(0, tr_xy.shape[0], (MICRO,))
            loss, g = grad_fn(model, tr_xy[idx], tr_z[idx])
            acc = g if acc is None else tree_map(mx.add, acc, g)
            window.append(loss)
        opt.update(model, tree_map(lambda a: a / ACCUM, acc))
        mx.eval(model.parameters(), opt.state, window[-1])
    if day in (5, 8):
        opt.learning_rate = opt.learning_rate * 0.3
    pred = model(chk_xy) * Z_STD + Z_MEAN
    rmse = mx.sqrt(((pred - chk_z) ** 2).mean()).item()
    widths = mx.exp(model.log_width)
    print(f"day_{day}:")
    print(f"  train_mse_scaled: {mx.stack(window).mean().item():.4f}")
    print(f"  checkpoint_rmse_m: {rmse:.2f}")
    print(f"  width_range: [{widths.min().item():.3f}, {widths.max().item():.3f}]")
    print(f"  lr: {opt.learning_rate.item():.4f}")
    print(f"  wall_s: {time.time() - t0:.1f}")
