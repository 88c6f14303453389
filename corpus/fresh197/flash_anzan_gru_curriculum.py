"""Flash-anzan drill: a GRU listens to digits flashed one by one and keeps the
running total.  Curriculum over the number of flashes (3 -> 6 -> 10); each stage
has its own step counter and its own little warmup."""
import logging
import math
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s anzan: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("anzan")
mx.random.seed(2024)

SCALE = 10.0           # totals are learned in units of ten beads


class Listener(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.inp = nn.Linear(2, 16)
        self.gru = nn.GRU(16, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, digits):
        # digits: (B, T) ints 1..9 -> features (digit/10, flash position/10)
        B, T = digits.shape
        pos = mx.broadcast_to(mx.arange(T)[None, :], (B, T)).astype(mx.float32)
        x = mx.stack([digits.astype(mx.float32) / 10.0, pos / 10.0], axis=-1)
        h = self.gru(nn.relu(self.inp(x)))
        return self.out(h).squeeze(-1)       # running total / SCALE, shape (B, T)


def drill(n, flashes):
    d = mx.random.randint(1, 10, (n, flashes))
    return d, mx.cumsum(d, axis=1).astype(mx.float32)


def loss_fn(model, digits, totals):
    return nn.losses.mse_loss(model(digits), totals / SCALE)


model = Listener()
opt = optim.Adamax(learning_rate=0.0)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(digits, totals):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, digits, totals)
    opt.update(model, grads)
    return loss


def score(flashes, n=1000):
    digits, totals = drill(n, flashes)
    pred = model(digits)[:, -1] * SCALE
    final = totals[:, -1]
    exact = (mx.abs(pred - final) < 0.5).astype(mx.float32).mean().item() * 100
    mae = mx.abs(pred - final).mean().item()
    naive = mx.abs(final - 5.0 * flashes).mean().item()   # guess the expected total
    return exact, mae, naive


STAGES = [(3, 220, 6e-3), (6, 240, 4e-3), (10, 280, 3e-3)]
for stage, (flashes, steps, peak) in enumerate(STAGES, 1):
    log.info("stage %d: %d flashes, %d steps, peak lr %.0e (warmup from 0)", stage, flashes, steps, peak)
    warm = 30
    for it in range(steps):
        opt.learning_rate = peak * min(it / warm, 0.5 * (1 + math.cos(math.pi * max(it - warm, 0) / (steps - warm))))
        digits, totals = drill(64, flashes)
        loss = step(digits, totals)
        mx.eval(state, loss)
        if it % 60 == 0 or it == steps - 1:
            log.info("stage %d it %3d/%d  mse %.5f  lr %.2e", stage, it, steps, loss.item(),
                     opt.learning_rate.item())
    exact, mae, naive = score(flashes)
    log.info("stage %d done: exact %.1f%%  MAE %.3f beads  (guess-the-mean MAE %.3f beads)",
             stage, exact, mae, naive)

log.info("final check on every length:")
for flashes in (3, 6, 10, 12):
    exact, mae, naive = score(flashes)
    log.info("  %2d flashes | exact %5.1f%% | MAE %.3f | baseline %.3f", flashes, exact, mae, naive)
