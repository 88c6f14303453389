"""Online regression on a synthetic sensor stream.

Batches come from an endless generator; we train for a fixed budget of steps and
report a running RMSE every `report_every` steps (as a dict).
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

IN, HID = 24, 96


W_TRUE = mx.random.normal((IN, 1), key=mx.random.key(42)) / math.sqrt(IN)


def sensor_stream(batch, seed=0):
    mx.random.seed(seed)
    w_true = W_TRUE
    while True:
        x = mx.random.normal((batch, IN))
        y = mx.tanh(x @ w_true) + 0.05 * mx.random.normal((batch, 1))
        yield x, y


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(IN, HID)
        self.l2 = nn.Linear(HID, HID)
        self.out = nn.Linear(HID, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def main(total_steps=6000, heartbeat=500):
    model = Regressor()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=1e-3)
    grad_fn = nn.value_and_grad(model, loss_fn)

    running = mx.array(0.0)
    t0 = time.time()
    for step, (x, y) in enumerate(sensor_stream(128), start=1):
        loss, grads = grad_fn(model, x, y)
        opt.update(model, grads)
        running = running + loss
        mx.eval(model.parameters(), opt.state, running)
        if step % heartbeat == 0:
            dt = time.time() - t0
            print({"step": step, "sec": round(dt, 1), "samples_per_s": int(step * 128 / dt)})
        if step >= total_steps:
            break
    print({"train_rmse": round(math.sqrt(running.item() / total_steps), 5)})
    final = loss_fn(model, *next(sensor_stream(1024, seed=1))).item()
    print({"final_mse": round(final, 6)})


if __name__ == "__main__":
    main()
