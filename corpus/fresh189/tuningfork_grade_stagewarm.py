"""Tuning-fork QC: grade forks (in-tune / sharp / flat / dead) from 10 bench readings.

A fixed random-feature front end (frozen on purpose) feeds a trainable head.
Stage A trains on quiet-room readings, stage B on noisy shop-floor readings
(harder, so the error jumps at the stage switch). LR warms up from exactly 0.
"""
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

GRADES = ["in-tune", "sharp", "flat", "dead"]
rs = np.random.RandomState(11)


def bench_readings(n, noise):
    g = rs.randint(0, 4, size=n)
    cents = np.where(g == 1, rs.uniform(8, 30, n), np.where(g == 2, -rs.uniform(8, 30, n), rs.normal(0, 3, n)))
    t60 = np.where(g == 3, rs.uniform(0.3, 1.5, n), rs.uniform(4.0, 9.0, n))  # decay time, s
    f0 = 440.0 * 2 ** (cents / 1200.0)
    x = np.stack([
        cents / 10.0,
        (f0 - 440.0) / 2.0,
        np.log(t60),
        rs.normal(0, 1, n),                    # tine temperature (irrelevant)
        0.3 * cents / 10.0 + rs.normal(0, 1, n),
        1.0 / t60,
        rs.normal(0, 1, n),                    # handle mass (irrelevant)
        np.sign(cents) * np.abs(cents) ** 0.5 / 3,
        rs.normal(0, 1, n),
        np.log(t60) * 0.5 + rs.normal(0, 0.5, n),
    ], axis=1)
    x = x + rs.normal(0, noise, x.shape)
    return mx.array(x.astype(np.float32)), mx.array(g.astype(np.int32))


class ForkGrader(nn.Module):
    def __init__(self):
        super().__init__()
        self.front = nn.Linear(10, 96)      # random features, frozen
        self.head1 = nn.Linear(96, 48)
        self.head2 = nn.Linear(48, 4)

    def __call__(self, x):
        h = mx.tanh(self.front(x))
        return self.head2(nn.relu(self.head1(h)))


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


mx.random.seed(3)
model = ForkGrader()
model.front.freeze()
front_before = np.array(model.front.weight)

WARM = 40
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-2, WARM), optim.cosine_decay(2e-2, 400, 2e-3)], [WARM])
opt = optim.RMSprop(learning_rate=sched, alpha=0.95)

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, xent)(model, x, y)
    opt.update(model, grads)
    return loss


def error_pct(x, y):
    return 100.0 * (model(x).argmax(-1) != y).astype(mx.float32).mean().item()


_, g0 = nn.value_and_grad(model, xent)(model, *bench_readings(64, 0.05))
print("trainable grad norms:", {k: round(mx.linalg.norm(v).item(), 4) for k, v in tree_flatten(g0)})

print(f"{'stage':>5} | {'step':>4} | {'lr':>8} | {'xent':>7} | {'err%':>6} | {'majority err%':>13}")
print("-" * 58)
for stage, noise, steps in [("A", 0.05, 200), ("B", 0.6, 200)]:
    xv, yv = bench_readings(800, noise)
    counts = np.bincount(np.array(yv), minlength=4)
    majority = 100.0 * (1 - counts.max() / counts.sum())
    for step in range(steps):
        lr_now = opt.learning_rate.item()
        x, y = bench_readings(128, noise)
        loss = train_step(x, y)
        mx.eval(loss, model.parameters(), opt.state)
        if step % 25 == 0 or step == steps - 1:
            print(f"{stage:>5} | {step:4d} | {lr_now:8.5f} | {loss.item():7.4f} | {error_pct(xv, yv):6.2f} | {majority:13.2f}")
    print("-" * 58)

drift = float(np.abs(np.array(model.front.weight) - front_before).max())
print(f"audit: frozen front max |dW| = {drift:.2e}; head2 |W| = {mx.linalg.norm(model.head2.weight).item():.3f}")
