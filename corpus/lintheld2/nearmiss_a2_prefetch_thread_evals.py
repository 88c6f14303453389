"""Autoregressive next-value predictor fed by a background prefetch thread.

The loader thread builds and *evaluates* each batch before handing it over,
so the training thread only ever receives materialised arrays.
"""
import queue
import threading

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

WINDOW = 16


def loader(out_q, n_batches, batch_size, seed):
    key = mx.random.key(seed)
    for _ in range(n_batches):
        key, k1, k2 = mx.random.split(key, 3)
        phase = mx.random.uniform(0, 6.28, (batch_size, 1), key=k1)
        freq = mx.random.uniform(0.2, 0.6, (batch_size, 1), key=k2)
        t = mx.arange(WINDOW + 1)[None, :]
        series = mx.sin(freq * t + phase)
        x, y = series[:, :-1], series[:, -1:]
        mx.eval(x, y)
        out_q.put((x, y))
    out_q.put(None)


class Forecaster(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(WINDOW, 64), nn.GELU(), nn.Linear(64, 1))

    def __call__(self, x):
        return self.net(x)


def main():
    mx.random.seed(0)
    batches = queue.Queue(maxsize=8)
    worker = threading.Thread(target=loader, args=(batches, 400, 64, 0), daemon=True)
    worker.start()

    fc = Forecaster()
    opt = optim.Adam(learning_rate=2e-3)
    vg = nn.value_and_grad(fc, lambda m, x, y: nn.losses.mse_loss(m(x), y))
    step = 0
    while (item := batches.get()) is not None:
        x, y = item
        loss, grads = vg(fc, x, y)
        opt.update(fc, grads)
        mx.eval(fc.parameters(), opt.state, loss)
        if step % 100 == 0:
            print(f"step {step:3d} mse {loss.item():.5f}")
        step += 1
    worker.join()
    print(f"finished {step} steps, final mse {loss.item():.5f}")


if __name__ == "__main__":
    main()
