"""Hill-farm lambing shed: predict lamb birth weight (kg) from ewe records.

Stage 1 trains on single lambs only; stage 2 adds twins and triplets, which
are lighter and noisier, so the error jumps when the harder flock arrives.
The learning rate warms up from exactly 0 at the start of every stage.
"""
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)


def make_flock(n, max_litter):
    age = rng.uniform(1.5, 8.0, n)                      # years
    bcs = rng.uniform(1.5, 4.5, n)                      # body condition score
    litter = rng.integers(1, max_litter + 1, n)         # 1..3
    gest = rng.normal(147.0, 2.5, n)                    # days
    graze = rng.uniform(0.0, 1.0, n)                    # winter grazing quality
    breed = rng.integers(0, 3, n)                       # 0 Blackface, 1 Cheviot, 2 Mule
    w = (5.2 + 0.35 * (bcs - 3.0) + 0.18 * np.minimum(age, 5.0) - 0.05 * np.maximum(age - 6.0, 0.0) ** 2
         - 1.15 * (litter - 1) + 0.09 * (gest - 147.0) + 0.6 * graze
         + np.array([-0.3, 0.2, 0.45])[breed])
    w = w + rng.normal(0.0, 0.25 + 0.12 * (litter - 1), n)
    x = np.stack([(age - 4.5) / 2, bcs - 3.0, litter - 2.0, (gest - 147.0) / 2.5, graze * 2 - 1,
                  breed == 0, breed == 1, breed == 2], axis=1).astype(np.float32)
    return mx.array(x), mx.array(w.astype(np.float32))


@mx.custom_function
def clip_bwd(h):
    return h


@clip_bwd.vjp
def clip_bwd_vjp(primals, cotangent, output):
    # pass gradients through, but bound each element (a per-unit gradient clip)
    return (mx.clip(cotangent, -0.5, 0.5),)


class BirthWeightNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = clip_bwd(h)
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1) + 5.0


def loss_fn(model, x, y):
    return mx.mean((model(x) - y) ** 2)


model = BirthWeightNet()
mx.eval(model.parameters())
loss_and_grad = nn.value_and_grad(model, loss_fn)

stages = [("singles", 1, 260), ("multiples", 3, 320)]
print("| stage     | step | lr        | train mse | val rmse kg | mean-guess kg |")
print("|-----------|------|-----------|-----------|-------------|---------------|")
for stage_name, max_litter, steps in stages:
    xtr, ytr = make_flock(3000, max_litter)
    xva, yva = make_flock(600, max_litter)
    baseline = math.sqrt(float(mx.mean((yva - mx.mean(ytr)) ** 2)))
    warm = 40
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, steps - warm, 5e-5)], [warm])
    opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)
    for step in range(steps):
        idx = mx.array(rng.integers(0, xtr.shape[0], 128))
        loss, grads = loss_and_grad(model, xtr[idx], ytr[idx])
        if step == 0 and stage_name == "singles":
            zero = [k for k, g in tree_flatten(grads) if float(mx.abs(g).sum()) == 0.0]
            print(f"# params without gradient: {zero if zero else 'none'}")
        lr_now = float(opt.learning_rate)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 40 == 0 or step == steps - 1:
            rmse = math.sqrt(float(loss_fn(model, xva, yva)))
            print(f"| {stage_name:<9} | {step:4d} | {lr_now:.3e} | {loss.item():9.4f} | {rmse:11.3f} | {baseline:13.3f} |")

xva, yva = make_flock(1000, 3)
pred = model(xva)
for k in (1, 2, 3):
    sel = np.array(xva[:, 2]) == (k - 2.0)
    err = np.abs(np.array(pred)[sel] - np.array(yva)[sel]).mean()
    print(f"litter size {k}: mean abs error {err:.3f} kg over {sel.sum()} lambs")
