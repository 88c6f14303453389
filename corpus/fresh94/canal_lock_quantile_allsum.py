"""Canal lock fill-time forecaster.

How long (minutes) does a lock chamber take to fill?  Depends on the
chamber area, the head (level difference), how far the paddles are opened,
the age of the paddle gear and whether the upstream pound is drawn down.
We predict three quantiles (10 / 50 / 90 %) with the pinball loss so the
lock-keeper gets an interval, not just a guess.

The script is written to be launched with `mlx.launch` on several Macs;
gradients are averaged with mx.distributed.all_sum.  Run plainly it is a
single-process group of size 1 and the average is a no-op.
"""
import math
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

QUANTILES = (0.1, 0.5, 0.9)
EPOCHS = 20
BATCH = 128
BAR_WIDTH = 28


def make_locks(n, rng):
    area = rng.uniform(80.0, 320.0, n)          # m^2
    head = rng.uniform(0.8, 4.5, n)             # m
    paddle = rng.uniform(0.3, 1.0, n)           # fraction open
    gear_age = rng.uniform(0.0, 60.0, n)        # years
    drawdown = rng.uniform(0.0, 0.4, n)         # m below normal
    # made-up Torricelli-ish law: volume / (discharge through the paddles)
    discharge = 0.9 * paddle * (1.0 - 0.004 * gear_age) * np.sqrt(2 * 9.81 * (head - 0.5 * drawdown))
    minutes = area * head / (discharge * 60.0 * 1.2)
    # right-skewed, heteroscedastic noise: sticky paddles, boats in the way
    noise = rng.gamma(2.0, 0.06, n) * minutes * (0.5 + paddle)
    y = minutes + noise - 0.12 * minutes
    X = np.stack([area / 100.0, head, paddle, gear_age / 20.0, drawdown * 5.0], axis=1)
    return X.astype(np.float32), y.astype(np.float32)


class QuantileNet(nn.Module):
    def __init__(self, n_in, hidden, n_q):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(n_in, hidden), nn.GELU(),
            nn.Linear(hidden, hidden), nn.GELU(),
        )
        self.base = nn.Linear(hidden, 1)
        self.gaps = nn.Linear(hidden, n_q - 1)  # softplus gaps keep quantiles ordered

    def __call__(self, x):
        h = self.body(x)
        lo = self.base(h)
        steps = nn.softplus(self.gaps(h))
        return mx.concatenate([lo, lo + mx.cumsum(steps, axis=1)], axis=1)


def pinball(pred, y, taus):
    diff = y[:, None] - pred
    return mx.mean(mx.maximum(taus * diff, (taus - 1.0) * diff))


def main():
    world = mx.distributed.init()
    rng = np.random.default_rng(1000 + world.rank())
    X, y = make_locks(20000, rng)
    Xte, yte = make_locks(3000, np.random.default_rng(77))
    mu, sd = X.mean(0), X.std(0)
    y_scale = float(y.std())
    X = (X - mu) / sd
    Xte = (Xte - mu) / sd
    taus = mx.array(QUANTILES)

    mx.random.seed(5)
    model = QuantileNet(X.shape[1], 64, len(QUANTILES))
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)

    def loss_fn(m, xb, yb):
        return pinball(m(xb), yb, taus)

    step_fn = nn.value_and_grad(model, loss_fn)

    def all_avg(grads):
        return tree_map(lambda g: mx.distributed.all_sum(g, group=world) / world.size(), grads)

    Xte_m, yte_m = mx.array(Xte), mx.array(yte / y_scale)

    def evaluate():
        q = np.array(model(Xte_m)) * y_scale
        inside = np.mean((yte >= q[:, 0]) & (yte <= q[:, 2])) * 100.0
        mae = np.mean(np.abs(q[:, 1] - yte))
        width = np.mean(q[:, 2] - q[:, 0])
        test_pb = pinball(mx.array(q / y_scale), yte_m, taus).item()
        return test_pb, inside, mae, width

    print(f"canal-lock quantile net | world size {world.size()} | rank {world.rank()}")
    print(f"train {len(X)} locks, test {len(Xte)}; fill time median {np.median(y):.1f} min, "
          f"IQR {np.percentile(y, 25):.1f}-{np.percentile(y, 75):.1f} min")
    pb0, in0, mae0, w0 = evaluate()
    print(f"untrained: pinball {pb0:.4f}  10-90 coverage {in0:.1f}% (target 80%)  "
          f"median MAE {mae0:.2f} min  width {w0:.2f} min")

    # gradient wiring check on one batch before training
    _, g0 = step_fn(model, mx.array(X[:BATCH]), mx.array(y[:BATCH] / y_scale))
    flat = tree_flatten(g0)
    dead = [k for k, g in flat if float(mx.max(mx.abs(g))) == 0.0]
    print(f"gradient leaves: {len(flat)}, all-zero: {dead if dead else 'none'}")

    steps_per_epoch = len(X) // BATCH
    ema, beta, t = 0.0, 0.98, 0
    t_start = time.time()
    for epoch in range(1, EPOCHS + 1):
        order = rng.permutation(len(X))
        for i in range(steps_per_epoch):
            idx = order[i * BATCH:(i + 1) * BATCH]
            xb = mx.array(X[idx])
            yb = mx.array(y[idx] / y_scale)
            loss, grads = step_fn(model, xb, yb)
            grads = all_avg(grads)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            t += 1
            ema = beta * ema + (1.0 - beta) * loss.item()
            shown = ema / (1.0 - beta ** t)  # bias-corrected
            if i % 8 == 0 or i == steps_per_epoch - 1:
                done = (i + 1) / steps_per_epoch
                fill = int(round(done * BAR_WIDTH))
                bar = "#" * fill + "." * (BAR_WIDTH - fill)
                sys.stdout.write(f"\repoch {epoch}/{EPOCHS} [{bar}] {i + 1:3d}/{steps_per_epoch} "
                                 f"loss(ema) {shown:.4f}")
                sys.stdout.flush()
        pb, inside, mae, width = evaluate()
        sys.stdout.write(f"  | test pinball {pb:.4f}  coverage {inside:5.1f}%  "
                         f"median MAE {mae:.2f} min  width {width:.2f} min  "
                         f"{time.time() - t_start:5.1f}s\n")
        sys.stdout.flush()

    print(f"done: {t} steps; coverage of the 10-90 band should sit near 80% "
          f"(100% would mean the band is too wide)")


if __name__ == "__main__":
    main()
