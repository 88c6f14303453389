# Conveyor-belt inspection: count the defective parts (sensor reading > 0.7) in a window of
# up to 8 slots. Curriculum on window length 2 -> 4 -> 6 -> 8: each stage opens new slots whose
# input weights have only seen zeros, so the loss jumps up at every stage change, then falls.
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(relativeCreated)7.0fms %(levelname)-5s %(message)s")
log = logging.getLogger("conveyor")

MAXLEN, THRESH = 8, 0.7
rng = np.random.default_rng(11)


def batch(n, length):
    x = rng.uniform(0, 1, size=(n, MAXLEN)).astype(np.float32)
    x[:, length:] = 0.0                      # closed slots read 0 (no part)
    y = (x > THRESH).sum(axis=1).astype(np.int32)
    return mx.array(x), mx.array(y)


class Counter(nn.Module):
    def __init__(self, hidden=96):
        super().__init__()
        self.inp = nn.Linear(MAXLEN, hidden)
        self.mid = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, MAXLEN + 1)

    def __call__(self, x):
        h = nn.relu(self.inp(x * 4.0 - 2.0 * (x > 0)))
        h = nn.relu(self.mid(h))
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = Counter()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=4e-3)
step_fn = nn.value_and_grad(model, loss_fn)

x0, y0 = batch(256, 2)
_, g0 = step_fn(model, x0, y0)
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
log.info("grad check: %d leaves, zero leaves: %s", len(tree_flatten(g0)), dead or "none")
assert not dead

evalsets = {L: batch(4000, L) for L in (2, 4, 6, 8)}
STEPS_PER_STAGE = 1000
step = 0
for stage, length in enumerate((2, 4, 6, 8), start=1):
    log.info("stage %d/4: window length %d", stage, length)
    window = []
    for k in range(STEPS_PER_STAGE):
        x, y = batch(128, length)
        loss, grads = step_fn(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        step += 1
        if k in (0, 49) or (k + 1) % 250 == 0:
            xv, yv = evalsets[length]
            logits = model(xv)
            miss = (mx.argmax(logits, axis=1) != yv).astype(mx.float32).mean().item()
            log.info("step %5d  len %d  train_ce %.4f  val_ce %.4f  miscount %.2f%%",
                     step, length, float(np.mean(window)), loss_fn(model, xv, yv).item(), 100 * miss)
            window = []

log.info("final miscount rate per window length (lower is better):")
for L, (xv, yv) in evalsets.items():
    miss = (mx.argmax(model(xv), axis=1) != yv).astype(mx.float32).mean().item()
    log.info("  len %d: %.2f%%", L, 100 * miss)
