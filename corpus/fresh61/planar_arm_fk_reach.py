# Learned inverse kinematics for a 3-link planar arm, trained without any joint
# labels: an MLP maps a target point (x, y) to three joint angles and the loss is
# the squared distance between the arm's forward-kinematics end effector and
# the target (plus a tiny preference for a relaxed elbow).  AdamW with a linear
# warm-up into a constant rate; text progress bar every 250 steps.
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

LINKS = (1.0, 0.8, 0.6)
R_MIN, R_MAX = 0.35, sum(LINKS) - 0.05
rng = np.random.default_rng(7)
mx.random.seed(7)


def sample_targets(n):
    r = np.sqrt(rng.uniform(R_MIN ** 2, R_MAX ** 2, size=n))
    phi = rng.uniform(-np.pi, np.pi, size=n)
    return np.stack([r * np.cos(phi), r * np.sin(phi)], axis=1).astype(np.float32)


def forward_kinematics(q):
    c = mx.cumsum(q, axis=1)  # absolute link angles
    lens = mx.array(LINKS)[None, :]
    x = mx.sum(lens * mx.cos(c), axis=1)
    y = mx.sum(lens * mx.sin(c), axis=1)
    return mx.stack([x, y], axis=1)


class IKNet(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.l1 = nn.Linear(4, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.l3 = nn.Linear(hidden, 3)

    def __call__(self, p):
        r = mx.sqrt(mx.sum(p * p, axis=1, keepdims=True))
        h = mx.concatenate([p, r, r * r], axis=1)
        h = mx.tanh(self.l1(h))
        h = mx.tanh(self.l2(h))
        return np.pi * mx.tanh(self.l3(h))  # joint angles in (-pi, pi)


def loss_fn(model, p):
    q = model(p)
    err = forward_kinematics(q) - p
    reach = mx.mean(mx.sum(err * err, axis=1))
    relax = 1e-3 * mx.mean(q[:, 1:] ** 2)
    return reach + relax


model = IKNet()
mx.eval(model.parameters())

STEPS = 3000
BATCH = 128
warm = optim.linear_schedule(1e-4, 3e-3, 300)
sched = optim.join_schedules([warm, lambda s: mx.array(3e-3)], [300])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
loss_and_grad = nn.value_and_grad(model, loss_fn)

val = mx.array(sample_targets(2000))

_, g0 = loss_and_grad(model, mx.array(sample_targets(BATCH)))
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(f"gradient check: {len(tree_flatten(g0))} leaves, {len(zero)} with an all-zero gradient {zero}")


def val_errors():
    d = forward_kinematics(model(val)) - val
    return np.sqrt(np.array(mx.sum(d * d, axis=1)))


e0 = val_errors()
print(f"untrained: mean reach error {e0.mean():.3f} m, median {np.median(e0):.3f} m")

t0 = time.time()
run = 0.0
for step in range(1, STEPS + 1):
    p = mx.array(sample_targets(BATCH))
    loss, grads = loss_and_grad(model, p)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    run = 0.98 * run + 0.02 * loss.item() if step > 1 else loss.item()
    if step % 250 == 0:
        e = val_errors()
        done = int(20 * step / STEPS)
        bar = "#" * done + "-" * (20 - done)
        print(f"step {step:04d} [{bar}] loss(ema) {run:.5f}  val mean err {e.mean():.4f} m  "
              f"p95 {np.percentile(e, 95):.4f} m  ({time.time() - t0:.1f}s)")

e = val_errors()
print(f"\nheld-out targets: mean {e.mean():.4f} m, median {np.median(e):.4f} m, "
      f"p95 {np.percentile(e, 95):.4f} m, within 2 cm {100 * np.mean(e < 0.02):.1f}%")
