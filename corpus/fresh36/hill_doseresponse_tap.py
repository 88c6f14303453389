# Four-parameter logistic (Hill) dose-response fits for 6 compounds sharing one
# Hill slope; full-batch Adam on raw parameter arrays. Output is TAP (Test
# Anything Protocol) so the lab's CI harness can ingest it.
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

random.seed(5)
mx.random.seed(5)

C = 6
DOSES = [10 ** (e / 4) for e in range(-12, 5)]  # 1e-3 .. 10 (log-spaced)
true_log_ec50 = [math.log(v) for v in (0.02, 0.08, 0.3, 0.9, 2.5, 0.05)]
true_top = [95, 80, 100, 70, 90, 85]
true_bottom = [5, 10, 0, 8, 3, 12]
TRUE_HILL = 1.3
NOISE = 4.0

rows = []
for c in range(C):
    for rep in range(3):
        for d in DOSES:
            resp = true_bottom[c] + (true_top[c] - true_bottom[c]) / (
                1 + math.exp(TRUE_HILL * (true_log_ec50[c] - math.log(d))))
            rows.append((c, math.log(d), resp + random.gauss(0, NOISE)))
random.shuffle(rows)
cid = mx.array([r[0] for r in rows])
logd = mx.array([r[1] for r in rows])
y = mx.array([r[2] for r in rows])


class Hill(nn.Module):
    def __init__(self):
        super().__init__()
        self.log_ec50 = mx.zeros((C,))
        self.top = mx.full((C,), 60.0)
        self.bottom = mx.full((C,), 20.0)
        self.raw_slope = mx.array([0.0])

    def __call__(self, c, ld):
        slope = nn.softplus(self.raw_slope) + 0.1
        return self.bottom[c] + (self.top[c] - self.bottom[c]) * mx.sigmoid(slope * (ld - self.log_ec50[c]))


def mse(model, c, ld, yy):
    return ((model(c, ld) - yy) ** 2).mean()


model = Hill()
opt = optim.Adam(learning_rate=0.05)
vg = nn.value_and_grad(model, mse)
_, g = vg(model, cid, logd, y)
print("TAP version 13")
STEPS, EVERY = 3000, 250
print(f"1..{STEPS // EVERY + 1}")
leaves = {k: float(mx.abs(v).max()) for k, v in tree_flatten(g)}
print(f"ok 1 - gradient reaches every leaf  # {leaves}")
print(f"# noise floor (MSE) ~ {NOISE ** 2:.1f}; true hill slope {TRUE_HILL}")
t = 2
for step in range(1, STEPS + 1):
    loss, grads = vg(model, cid, logd, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    if step % EVERY == 0:
        slope = (nn.softplus(model.raw_slope) + 0.1).item()
        ec_err = mx.abs(model.log_ec50 - mx.array(true_log_ec50)).mean().item()
        print(f"ok {t} - step {step} mse {loss.item():.3f}")
        print(f"  ---\n  hill_slope: {slope:.3f}\n  mean_abs_log_ec50_err: {ec_err:.3f}\n  ...")
        t += 1
