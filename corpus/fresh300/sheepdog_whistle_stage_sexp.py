"""Sheepdog trial whistle commands: which of 5 commands was blown?

Each sample is a 32-step pitch/loudness contour of a shepherd's whistle
(come-bye, away, walk-up, lie-down, that'll-do).  Training is a 3-stage
curriculum over field recording quality (kennel -> open hill -> windy hill):
every stage mixes in noisier recordings, and every stage re-warms the learning
rate from 0 before an exponential decay.  Validation is always on the windy-hill
recordings.

Log lines are s-expressions so the trial secretary's Lisp tooling can read them.
"""

import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

COMMANDS = ["come-bye", "away", "walk-up", "lie-down", "thatll-do"]
T = 32
STAGE_UPDATES = 200
WARM = 40
PEAKS = [0.08, 0.06, 0.04]
NOISE = [0.05, 0.30, 0.50]
BATCH = 64
REPORT = 40


def contour(cmd, n, noise, rng):
    t = np.linspace(0.0, 1.0, T)[None, :]
    base = rng.uniform(0.9, 1.1, size=(n, 1))
    shift = rng.uniform(-0.08, 0.08, size=(n, 1))
    tt = np.clip(t + shift, 0.0, 1.0)
    if cmd == 0:      # rising sweep
        pitch = base + 0.6 * tt
    elif cmd == 1:    # falling sweep
        pitch = base + 0.6 * (1.0 - tt)
    elif cmd == 2:    # two short blasts
        pitch = base + 0.5 * ((np.abs(tt - 0.3) < 0.1) | (np.abs(tt - 0.7) < 0.1))
    elif cmd == 3:    # one long flat blast
        pitch = base + 0.4 * (np.abs(tt - 0.5) < 0.35)
    else:             # warble
        pitch = base + 0.3 * np.sin(2 * np.pi * 4 * tt)
    loud = 1.0 - 0.8 * np.abs(tt - 0.5) + 0.1 * rng.normal(size=(n, 1))
    pitch = pitch + noise * rng.normal(size=(n, T))
    loud = loud + noise * rng.normal(size=(n, T))
    return np.stack([pitch, loud], axis=-1).astype(np.float32)


def make_set(n_per, noise, rng):
    xs, ys = [], []
    for c in range(len(COMMANDS)):
        xs.append(contour(c, n_per, noise, rng))
        ys.append(np.full(n_per, c, dtype=np.int32))
    x, y = np.concatenate(xs), np.concatenate(ys)
    p = rng.permutation(len(y))
    return x[p], y[p]


class WhistleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(2, 16, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(16, 32, kernel_size=5, padding=2)
        self.head = nn.Linear(64, len(COMMANDS))

    def __call__(self, x):
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h))
        pooled = mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1)
        return self.head(pooled)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def build_schedule():
    parts, bounds = [], []
    for s, peak in enumerate(PEAKS):
        parts.append(optim.linear_schedule(0.0, peak, WARM))
        parts.append(optim.exponential_decay(peak, 0.99))
        start = s * STAGE_UPDATES
        bounds.extend([start + WARM, start + STAGE_UPDATES])
    return optim.join_schedules(parts, bounds[:-1])


def accuracy(model, x, y):
    return 100.0 * mx.mean(mx.argmax(model(x), axis=-1) == y).item()


def main():
    rng = np.random.default_rng(5)
    mx.random.seed(5)
    stages = [make_set(600, nz, rng) for nz in NOISE]
    xv, yv = make_set(200, NOISE[-1], rng)
    xv, yv = mx.array(xv), mx.array(yv)
    print(f'(data (commands {len(COMMANDS)}) (contour-steps {T}) (stage-noise {" ".join(map(str, NOISE))}) '
          f'(val "windy hill" {yv.size}))')

    model = WhistleNet()
    mx.eval(model.parameters())
    sched = build_schedule()
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
    grad_fn = nn.value_and_grad(model, loss_fn)
    print(f"(untrained (val-ce {loss_fn(model, xv, yv).item():.3f}) (val-acc% {accuracy(model, xv, yv):.1f}) "
          f"(chance% {100.0 / len(COMMANDS):.1f}))")

    t0 = time.time()
    pool_x, pool_y = None, None
    for s in range(len(PEAKS)):
        sx, sy = stages[s]
        pool_x = sx if pool_x is None else np.concatenate([pool_x, sx])
        pool_y = sy if pool_y is None else np.concatenate([pool_y, sy])
        px, py = mx.array(pool_x), mx.array(pool_y)
        print(f'(stage {s + 1} (pool {len(pool_y)}) (newest-noise {NOISE[s]}))')
        window = []
        for k in range(STAGE_UPDATES):
            idx = mx.array(rng.integers(0, len(pool_y), size=BATCH))
            lr_used = sched(opt.step).item()
            if k == 0:
                snap = [mx.array(p) for _, p in tree_flatten(model.parameters())]
            loss, grads = grad_fn(model, px[idx], py[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            if k == 0:
                moved = max(mx.max(mx.abs(p - q)).item()
                            for (_, p), q in zip(tree_flatten(model.parameters()), snap))
                print(f"(stage-start-check (lr {lr_used:.4f}) (max-weight-change {moved:.6f}))")
            window.append(loss.item())
            if (k + 1) % REPORT == 0:
                print(f"(log (stage {s + 1}) (update {k + 1}) (lr {lr_used:.4f}) "
                      f"(train-ce {np.mean(window):.4f}) (val-ce {loss_fn(model, xv, yv).item():.4f}) "
                      f"(val-acc% {accuracy(model, xv, yv):.1f}) (secs {time.time() - t0:.1f}))")
                window = []

    print(f"(final (val-acc% {accuracy(model, xv, yv):.1f}) (chance% {100.0 / len(COMMANDS):.1f}) "
          f"(updates {opt.state['step'].item()}))")


if __name__ == "__main__":
    main()
