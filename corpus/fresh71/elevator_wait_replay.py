"""Online learning of elevator hall-call wait times from a simulated building.

Every round the simulator produces a batch of fresh hall calls; they go into a
replay buffer (deque, capped) and the wait-time model takes a few Adam steps on
minibatches drawn from the buffer.  'slip' = mean |predicted - actual| wait in
seconds on a fixed held-out set of calls.
"""
import collections
import resource
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

FLOORS = 24
rng = np.random.default_rng(7)


def simulate(n):
    call = rng.integers(0, FLOORS, n)
    car = rng.integers(0, FLOORS, n)
    direction = rng.choice([-1.0, 0.0, 1.0], n)          # car moving down / idle / up
    load = rng.uniform(0, 1, n)
    hour = rng.uniform(6, 22, n)
    dist = np.abs(call - car)
    # car moving away from the call has to finish its run first
    away = ((call - car) * direction < 0).astype(np.float64)
    rush = np.exp(-((hour - 8.5) / 1.2) ** 2) + np.exp(-((hour - 17.5) / 1.5) ** 2)
    stops = rng.poisson(1 + 3 * rush * (0.5 + load))
    wait = 2.0 + 1.6 * dist + away * (2.0 * (FLOORS - dist) * 0.5 + 6) + 7.0 * stops * (0.6 + load)
    wait = wait + rng.normal(0, 2.0, n)
    x = np.stack([call / FLOORS, car / FLOORS, direction, load,
                  np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24),
                  (call - car) / FLOORS], 1).astype(np.float32)
    return x, wait.astype(np.float32)


class WaitNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.relu(self.l1(x))
        h = nn.relu(self.l2(h))
        return self.out(h).squeeze(-1) * 20.0 + 30.0


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=5.0, reduction="mean")


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


mx.random.seed(3)
model = WaitNet()
opt = optim.Adam(learning_rate=2e-3)
step = nn.value_and_grad(model, loss_fn)

hold_x, hold_y = simulate(3000)
hold_x, hold_y = mx.array(hold_x), mx.array(hold_y)

CAP = 120_000
buffer = collections.deque(maxlen=CAP)
ROUNDS, NEW_PER_ROUND, STEPS_PER_ROUND, BATCH = 320, 1200, 4, 128

t0 = time.time()
print(f"building: {FLOORS} floors, replay cap {CAP} calls, {NEW_PER_ROUND} new calls per round")
print(f"round 0: slip {float(mx.mean(mx.abs(model(hold_x) - hold_y))):.2f}s (untrained), "
      f"predict-the-mean slip {float(mx.mean(mx.abs(hold_y - hold_y.mean()))):.2f}s")

for rnd in range(1, ROUNDS + 1):
    xs, ys = simulate(NEW_PER_ROUND)
    buffer.extend(zip(xs, ys))
    losses = []
    for _ in range(STEPS_PER_ROUND):
        idx = rng.integers(0, len(buffer), BATCH)
        bx = mx.array(np.stack([buffer[i][0] for i in idx]))
        by = mx.array(np.array([buffer[i][1] for i in idx]))
        loss, grads = step(model, bx, by)
        if rnd == 1 and not losses:
            leaves = tree_flatten(grads)
            zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
            print(f"round 1: first step gradient check, {len(leaves)} leaves, {len(zero)} all-zero {zero}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        losses.append(loss.item())
    if rnd % 20 == 0:
        slip = float(mx.mean(mx.abs(model(hold_x) - hold_y)))
        print(f"round {rnd}: buffer {len(buffer)} calls, huber {np.mean(losses):.3f}, "
              f"slip {slip:.2f}s, rss {rss_mb():.0f} MB, {time.time() - t0:.1f}s in")

probe_x, probe_y = simulate(5)
pred = model(mx.array(probe_x))
for i in range(5):
    print(f"probe call {i}: predicted {pred[i].item():5.1f}s, actual {probe_y[i]:5.1f}s")
print(f"finished {ROUNDS} rounds in {time.time() - t0:.1f}s")
