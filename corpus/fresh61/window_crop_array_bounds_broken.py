"""Multi-step forecaster trained on random windows cropped from one long series.

Each step samples B window offsets, crops `past` (CONTEXT points) and `future`
(HORIZON points) from the series and fits a small MLP forecaster with Adam.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

CONTEXT = 48
HORIZON = 6
BATCH = 32
STEPS = 2400


def make_series(n):
    t = mx.arange(n, dtype=mx.float32)
    s = (
        mx.sin(2 * math.pi * t / 37.0)
        + 0.6 * mx.sin(2 * math.pi * t / 11.0 + 0.4)
        + 0.3 * mx.sin(2 * math.pi * t / 5.3)
    )
    return s + 0.08 * mx.random.normal((n,))


class Forecaster(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(CONTEXT, 96), nn.SiLU(), nn.Linear(96, 96), nn.SiLU(), nn.Linear(96, HORIZON)
        )

    def __call__(self, x):
        return self.net(x)


def crop_batch(series, offsets):
    past, future = [], []
    for b in range(len(offsets)):
        s = offsets[b]
        past.append(series[s : s + CONTEXT])
        future.append(series[s + CONTEXT : s + CONTEXT + HORIZON])
    return mx.stack(past), mx.stack(future)


def loss_fn(model, series, offsets):
    x, y = crop_batch(series, offsets)
    return nn.losses.mse_loss(model(x), y)


def main():
    mx.random.seed(0)
    train = make_series(6000)
    valid = make_series(1500)
    model = Forecaster()
    opt = optim.Adam(learning_rate=1e-3)
    step_fn = nn.value_and_grad(model, loss_fn)

    val_offsets = list(range(0, 1500 - CONTEXT - HORIZON, 7))
    print(f"initial val_mse={loss_fn(model, valid, val_offsets).item():.4f}")
    print(f"train points={train.shape[0]}  valid windows={len(val_offsets)}  batch={BATCH}")
    t0 = time.time()
    running = None
    for step in range(1, STEPS + 1):
        offsets = mx.random.randint(0, train.shape[0] - CONTEXT - HORIZON, (BATCH,))
        loss, grads = step_fn(model, train, offsets)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
        if step % 200 == 0 or step == 1:
            val = loss_fn(model, valid, val_offsets).item()
            print(f"[{time.time() - t0:6.1f}s] step {step:4d}  ema_train_mse={running:.4f}  val_mse={val:.4f}")
    print("done")


if __name__ == "__main__":
    main()
