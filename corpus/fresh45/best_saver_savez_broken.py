"""Estimator/trace style training of a small LeNet on synthetic 12x12 'glyphs'
(10 random prototype patterns, randomly shifted by up to 1 px, with pixel noise).
Traces: Accuracy on a held-out split and a BestModelSaver that checkpoints the
best-accuracy weights into a temporary directory.
"""
from __future__ import annotations

import os
import tempfile
import time
from typing import MutableMapping, Optional

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

H = W = 12
NUM_CLASSES = 10


def make_data(rng, protos, n):
    y = rng.integers(0, NUM_CLASSES, size=n)
    x = protos[y].copy()
    for i in range(n):
        dx, dy = rng.integers(-1, 2, size=2)
        x[i] = np.roll(np.roll(x[i], dx, axis=0), dy, axis=1)
    x = x + 0.6 * rng.standard_normal(x.shape)
    return x[..., None].astype(np.float32), y.astype(np.int32)


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 16, 3, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(3 * 3 * 16, 64)
        self.fc2 = nn.Linear(64, NUM_CLASSES)

    def __call__(self, x):
        x = self.pool(nn.relu(self.c1(x)))
        x = self.pool(nn.relu(self.c2(x)))
        x = x.reshape(x.shape[0], -1)
        return self.fc2(nn.relu(self.fc1(x)))


class Accuracy:
    def __init__(self, model, x, y):
        self.model, self.x, self.y = model, x, y

    def on_epoch_end(self, state: MutableMapping[str, object]) -> None:
        pred = mx.argmax(self.model(self.x), axis=-1)
        state["metrics"]["accuracy"] = mx.mean(pred == self.y).item()


class BestModelSaver:
    def __init__(self, model, save_dir: str, metric: str = "accuracy", save_best_mode: str = "max") -> None:
        self.model = model
        self.save_dir = save_dir
        os.makedirs(save_dir, exist_ok=True)
        self.metric = metric
        self.save_best_mode = save_best_mode
        self.best: Optional[float] = None

    def on_epoch_end(self, state: MutableMapping[str, object]) -> None:
        score = state["metrics"].get(self.metric)
        if score is None:
            return
        if self.best is None or (self.save_best_mode == "max" and score > self.best) or (
            self.save_best_mode == "min" and score < self.best
        ):
            self.best = score
            path = os.path.join(self.save_dir, "model.npz")
            mx.savez(path, *self.model.parameters())
            state["metrics"]["saved"] = "*"


class Estimator:
    def __init__(self, model, optimizer, train, epochs, batch_size, traces, log_interval=100):
        self.model, self.optimizer = model, optimizer
        self.x, self.y = train
        self.epochs, self.batch_size = epochs, batch_size
        self.traces = traces
        self.log_interval = log_interval

    def fit(self):
        def loss_fn(model, x, y):
            return nn.losses.cross_entropy(model(x), y, reduction="mean")

        grad_fn = nn.value_and_grad(self.model, loss_fn)
        n = self.x.shape[0]
        step = 0
        print(f"FastMLX-Start: step: 1; logging_interval: {self.log_interval}; num_device: 1;")
        for epoch in range(self.epochs):
            t0 = time.time()
            perm = np.random.permutation(n)
            for i in range(0, n - self.batch_size + 1, self.batch_size):
                idx = mx.array(perm[i:i + self.batch_size])
                loss, grads = grad_fn(self.model, self.x[idx], self.y[idx])
                self.optimizer.update(self.model, grads)
                mx.eval(self.model.parameters(), self.optimizer.state, loss)
                step += 1
                if step % self.log_interval == 0:
                    print(f"FastMLX-Train: step: {step}; ce: {loss.item():.4f}; model_lr: {self.optimizer.learning_rate.item():.4g};")
            state = {"epoch": epoch, "metrics": {}}
            for tr in self.traces:
                tr.on_epoch_end(state)
            m = state["metrics"]
            print(f"FastMLX-Eval: step: {step}; epoch: {epoch + 1}; accuracy: {m['accuracy']:.4f}; "
                  f"saved: {m.get('saved', '')}; epoch_time: {time.time() - t0:.2f} sec;")
        return self.traces


def main():
    rng = np.random.default_rng(7)
    np.random.seed(7)
    mx.random.seed(7)
    protos = (rng.random((NUM_CLASSES, H, W)) > 0.6).astype(np.float32)
    xtr, ytr = make_data(rng, protos, 15000)
    xte, yte = make_data(rng, protos, 600)
    model = LeNet()
    opt = optim.Adam(learning_rate=1e-3)
    with tempfile.TemporaryDirectory() as save_dir:
        traces = [Accuracy(model, mx.array(xte), mx.array(yte)), BestModelSaver(model, save_dir)]
        est = Estimator(model, opt, (mx.array(xtr), mx.array(ytr)), epochs=6, batch_size=50, traces=traces)
        est.fit()
        print("FastMLX-Finish: best accuracy", traces[1].best, "files:", sorted(os.listdir(save_dir)))


if __name__ == "__main__":
    main()
