"""Regression run that streams metrics to a CSV from a background writer thread."""
import csv
import os
import queue
import tempfile
import threading
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class MetricsWriter(threading.Thread):
    """Drains (step, loss) records and appends them to a CSV file."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = path
        self.records = queue.Queue()

    def run(self):
        with open(self.path, "w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["step", "loss"])
            while True:
                item = self.records.get()
                try:
                    if item is None:
                        return
                    step, loss = item
                    out.writerow([step, f"{loss.item():.6f}"])
                finally:
                    self.records.task_done()

    def log(self, step, loss):
        self.records.put((step, loss))

    def close(self):
        self.records.put(None)
        self.records.join()


def make_data(n=4096, d=12):
    mx.random.seed(0)
    w = mx.random.normal((d, 1))
    x = mx.random.normal((n, d))
    return x, x @ w + 0.1 * mx.random.normal((n, 1))


def train():
    x, y = make_data()
    reg = nn.Sequential(nn.Linear(12, 32), nn.GELU(), nn.Linear(32, 1))
    opt = optim.AdamW(learning_rate=3e-3)
    mse = lambda m, a, b: nn.losses.mse_loss(m(a), b)
    step_fn = nn.value_and_grad(reg, mse)

    path = os.path.join(tempfile.mkdtemp(), "metrics.csv")
    writer = MetricsWriter(path)
    writer.start()
    t0 = time.time()
    for step in range(400):
        i = (step * 128) % x.shape[0]
        loss, grads = step_fn(reg, x[i : i + 128], y[i : i + 128])
        opt.update(reg, grads)
        mx.eval(reg.parameters(), opt.state, loss)
        writer.log(step, loss)
    print(f"trained 400 steps in {time.time() - t0:.1f}s, flushing metrics ...", flush=True)
    writer.close()
    with open(path) as fh:
        rows = list(csv.reader(fh))[1:]
    print(f"{len(rows)} rows logged; first loss {rows[0][1]}, last loss {rows[-1][1]}")


if __name__ == "__main__":
    train()
