"""Canal lock telemetry: which of four sluice conditions a lockage shows.

Schedule-free SGD (Defazio et al., 2024) written by hand: gradients are taken
at the interpolated point y, the SGD sequence z moves, and the running average
x is what gets evaluated.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

CONDITIONS = ["healthy", "silted culvert", "leaking gate seal", "sticking paddle"]
rng = np.random.default_rng(2026)


def lockages(n):
    c = rng.choice(4, n, p=[0.5, 0.2, 0.18, 0.12])
    fill = rng.normal(9.0, 1.0, n) + np.select([c == 1, c == 3], [2.2, 1.2], 0.0)
    curv = rng.normal(0, 1, n) + np.where(c == 3, 1.3, 0.0)
    diff = rng.normal(0, 1, n) - np.where(c == 2, 1.1, 0.0)
    current = rng.normal(4.0, 0.6, n) + np.where(c == 3, 0.9, 0.0)
    vib = rng.gamma(2.0, 0.5, n) * np.where(c == 3, 1.8, 1.0)
    turb = rng.lognormal(0, 0.5, n) * np.where(c == 1, 2.0, 1.0)
    head = rng.uniform(1.5, 4.5, n)
    temp = rng.normal(12, 6, n)
    today = rng.poisson(14, n).astype(float)
    fill = fill * np.sqrt(head / 3.0)           # higher head, longer fill
    leak = np.where(c == 2, 0.3 * head, 0.0)    # seal leak grows with head
    diff = diff - leak + 0.02 * (temp - 12)
    X = np.stack([fill, curv, diff, current, vib, np.log(turb), head, temp, today], 1)
    return X.astype(np.float32), c.astype(np.int32)


Xtr, ytr = lockages(9000)
Xva, yva = lockages(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr, Xva, ytr, yva = map(mx.array, (Xtr, Xva, ytr, yva))
LOG2 = math.log(2.0)


class SluiceNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(9, 64), nn.Linear(64, 64), nn.Linear(64, 4)]

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = nn.gelu(layer(x))
        return self.layers[-1](x)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean") / LOG2


class ScheduleFreeSGD:
    def __init__(self, params, beta=0.9, wd=5e-4):
        self.beta, self.wd = beta, wd
        self.z = tree_map(lambda p: p, params)
        self.x = tree_map(lambda p: p, params)
        self.weight_sum = 0.0

    def y(self):
        return tree_map(lambda z, x: (1 - self.beta) * z + self.beta * x, self.z, self.x)

    def step(self, grads, y, lr):
        self.z = tree_map(lambda z, g, yy: z - lr * (g + self.wd * yy), self.z, grads, y)
        w = lr * lr
        self.weight_sum += w
        c = w / self.weight_sum if self.weight_sum > 0 else 0.0
        self.x = tree_map(lambda x, z: (1 - c) * x + c * z, self.x, self.z)
        return c


def evaluate(model, params):
    model.update(params)
    logits = model(Xva)
    bits = (nn.losses.cross_entropy(logits, yva, reduction="mean") / LOG2).item()
    acc = (mx.argmax(logits, -1) == yva).astype(mx.float32).mean().item() * 100
    return bits, acc


STEPS, BATCH, WARM, PEAK = 1800, 96, 200, 0.5
prior = np.bincount(np.array(ytr), minlength=4) / len(np.array(ytr))
prior_bits = float(-(prior * np.log2(prior)).sum())
t0 = time.time()
print(f"ts={0.0:.1f} event=data train={Xtr.shape[0]} val={Xva.shape[0]} classes={len(CONDITIONS)} "
      f"prior_entropy_bits={prior_bits:.3f} majority_acc_pct={prior.max() * 100:.1f}")

mx.random.seed(3)
model = SluiceNet()
mx.eval(model.parameters())
opt = ScheduleFreeSGD(model.trainable_parameters())
vg = nn.value_and_grad(model, loss_fn)
b0, a0 = evaluate(model, opt.x)
print(f"ts={time.time() - t0:.1f} event=untrained val_bits_x={b0:.3f} val_acc_x_pct={a0:.1f}")

order = np.random.default_rng(11)
ema, seen = 0.0, 0
for step in range(STEPS):
    lr = PEAK * min(1.0, step / WARM)  # exactly 0 on the first update
    y = opt.y()
    model.update(y)
    idx = mx.array(order.integers(0, Xtr.shape[0], BATCH).astype(np.int32))
    loss, grads = vg(model, Xtr[idx], ytr[idx])
    if step == 0:
        flat = tree_flatten(grads)
        zero = [k for k, g in flat if mx.abs(g).max().item() == 0]
        print(f"ts={time.time() - t0:.1f} event=grad_check leaves={len(flat)} zero_leaves={len(zero)} lr={lr:.3f}")
    c = opt.step(grads, y, lr)
    mx.eval(loss, opt.z, opt.x)
    ema = 0.98 * ema + 0.02 * loss.item()
    seen += 1
    if (step + 1) % 300 == 0:
        smooth = ema / (1 - 0.98 ** seen)
        bx, ax = evaluate(model, opt.x)
        bz, az = evaluate(model, opt.z)
        print(f"ts={time.time() - t0:.1f} event=report step={step + 1} lr={lr:.3f} avg_weight={c:.5f} "
              f"train_bits_y_ema={smooth:.3f} val_bits_x={bx:.3f} val_acc_x_pct={ax:.1f} "
              f"val_bits_z={bz:.3f} val_acc_z_pct={az:.1f}")

bx, ax = evaluate(model, opt.x)
print(f"ts={time.time() - t0:.1f} event=done model_weights=x val_bits={bx:.3f} val_acc_pct={ax:.1f} "
      f"vs_prior_bits={prior_bits:.3f}")
