"""Train a small MLP while a background worker prepares (augments) the next batches."""
import queue
import threading
from concurrent.futures import ThreadPoolExecutor

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

# a separate stream so augmentation can overlap with the training step;
# streams belong to the thread that made them, so each worker makes its own
_local = threading.local()


def _aug_stream():
    if not hasattr(_local, "stream"):
        _local.stream = mx.new_stream(mx.default_device())
    return _local.stream


def augment(x, y, start, bs, seed):
    with mx.stream(_aug_stream()):
        xb, yb = x[start:start + bs], y[start:start + bs]
        key = mx.random.key(seed)
        noisy = xb + 0.05 * mx.random.normal(xb.shape, key=key)
        noisy = (noisy - noisy.mean(axis=0)) / (noisy.std(axis=0) + 1e-5)
        mx.eval(noisy, yb)
    return noisy, yb


class Prefetcher:
    def __init__(self, x, y, bs, depth=2):
        self.x, self.y, self.bs = x, y, bs
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.pending = queue.Queue()
        self.counter = 0
        for _ in range(depth):
            self._submit()

    def _submit(self):
        i = (self.counter * self.bs) % (self.x.shape[0] - self.bs)
        fut = self.pool.submit(augment, self.x, self.y, i, self.bs, self.counter)
        self.pending.put(fut)
        self.counter += 1

    def __iter__(self):
        return self

    def __next__(self):
        fut = self.pending.get()
        self._submit()
        return fut.result()

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)


def main():
    mx.random.seed(9)
    x = mx.random.normal((2048, 10))
    y = (x[:, :3].sum(axis=1) > 0).astype(mx.int32)
    mx.eval(x, y)
    clf = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 2))
    opt = optim.SGD(learning_rate=0.1, momentum=0.9)
    vg = nn.value_and_grad(clf, lambda m, a, b: nn.losses.cross_entropy(m(a), b, reduction="mean"))
    feed = Prefetcher(x, y, bs=64)
    try:
        for step, (xb, yb) in zip(range(200), feed):
            loss, grads = vg(clf, xb, yb)
            opt.update(clf, grads)
            mx.eval(clf.parameters(), opt.state)
            if step % 50 == 0:
                print(f"step {step:3d} loss {loss.item():.4f}")
    finally:
        feed.close()
    xs = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-5)
    print("acc", mx.mean(mx.argmax(clf(xs), axis=1) == y).item())


if __name__ == "__main__":
    main()
