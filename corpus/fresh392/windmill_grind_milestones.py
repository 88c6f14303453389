"""Tower-mill flour grade (fine / medium / coarse) from a miller's run sheet.

The run is quiet on purpose: it reports at steps 1, 2, 4, 8, ... and whenever the
held-out accuracy first crosses one of the target levels.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(4392)
GRADES = ["fine", "medium", "coarse"]


def run_sheet(n):
    wind = rng.gamma(4.0, 2.2, n)             # m/s at the cap
    sail_cloth = rng.uniform(0.2, 1.0, n)     # share of sail spread
    stone_gap = rng.uniform(0.1, 0.9, n)      # mm
    dress_age = rng.uniform(0, 60, n)         # days since the stones were dressed
    grain_moist = rng.normal(14, 1.5, n)      # %
    hopper_feed = rng.uniform(0.3, 1.0, n)    # shoe setting
    stone_rpm = 9.0 * np.sqrt(wind * sail_cloth) + rng.normal(0, 4, n)
    score = (2.4 * stone_gap - 0.025 * stone_rpm + 0.018 * dress_age
             + 0.22 * (grain_moist - 14) + 1.1 * hopper_feed
             + rng.logistic(0, 0.25, n))
    grade = np.digitize(score, [0.9, 1.9])
    x = np.stack([wind, sail_cloth, stone_gap, dress_age, grain_moist,
                  hopper_feed, stone_rpm], 1)
    return x.astype(np.float32), grade.astype(np.int32)


xtr, ytr = run_sheet(9000)
xte, yte = run_sheet(2000)
mu, sd = xtr.mean(0), xtr.std(0)
Xtr, Xte = mx.array((xtr - mu) / sd), mx.array((xte - mu) / sd)
Ytr, Yte = mx.array(ytr), mx.array(yte)
shares = np.bincount(ytr, minlength=3) / len(ytr)
majority = float((yte == np.argmax(shares)).mean())
print("grades in the sheets: " + ", ".join(
    f"{g} {100 * s:.0f}%" for g, s in zip(GRADES, shares)))
print(f"always calling '{GRADES[int(np.argmax(shares))]}' scores {100 * majority:.1f}% on the test sheets")

mx.random.seed(11)
model = nn.Sequential(nn.Linear(7, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU(),
                      nn.Linear(48, 3))
mx.eval(model.parameters())
opt = optim.Adafactor(learning_rate=3e-3, relative_step=False, scale_parameter=False)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)


def test_acc():
    return (mx.argmax(model(Xte), axis=1) == Yte).astype(mx.float32).mean().item()


STEPS, BATCH = 2048, 64
targets = [0.50, 0.60, 0.70, 0.75, 0.80, 0.90]
reached = {}
next_report = 1
ema, t0 = None, time.time()
for step in range(1, STEPS + 1):
    idx = mx.array(rng.integers(0, len(ytr), BATCH))
    loss, grads = loss_and_grad(model, Xtr[idx], Ytr[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
    if step % 16 == 0 or step == next_report:
        acc = test_acc()
        for t in targets:
            if t not in reached and acc >= t:
                reached[t] = step
                print(f">> test accuracy passed {100 * t:.0f}% at step {step} "
                      f"({100 * acc:.1f}%)")
        if step == next_report:
            print(f"step {step:5d}  ce(ema) {ema:.4f}  test acc {100 * acc:5.1f}%  "
                  f"[{time.time() - t0:.1f}s]")
            next_report *= 2

print("\ntarget  first reached")
for t in targets:
    print(f"{100 * t:4.0f}%   " + (f"step {reached[t]}" if t in reached else "not reached"))
print(f"final test accuracy {100 * test_acc():.1f}% (majority grade {100 * majority:.1f}%, "
      f"chance {100 / 3:.1f}%), ce {ema:.4f} vs ln3 = {math.log(3):.4f}")
