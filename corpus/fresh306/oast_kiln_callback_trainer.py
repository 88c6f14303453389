"""Hop kiln: final cone moisture (%) after drying, from 6 kiln-log features.

A tiny fit() loop with a list of callbacks, the way a small in-house trainer
would do it:
  * LinearWarmup   - learning rate ramps from exactly 0 over the first epoch
  * PlateauHalver  - halves the lr when val MAE has not improved for 2 epochs
  * BestKeeper     - writes the best weights to disk, reloads them at the end
  * Patience       - stops the run after 5 epochs without val improvement
Val MAE is printed next to a "kiln master's rule" baseline (a linear fit).
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np


def make_data(n, rng):
    x = rng.normal(size=(n, 6)).astype(np.float32)
    # air temp, airflow, bed depth, green moisture, hours, humidity (made-up law)
    m = (
        9.0
        - 1.6 * x[:, 0]
        - 1.1 * np.tanh(1.5 * x[:, 1])
        + 0.9 * x[:, 2] * (x[:, 3] > 0)
        + 0.7 * x[:, 3]
        - 1.3 * np.log1p(np.exp(x[:, 4]))
        + 0.5 * x[:, 5] ** 2
    )
    m = m + rng.normal(scale=0.35, size=n)
    return x, m.astype(np.float32)[:, None]


class KilnNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU())
        self.head = nn.Linear(48, 1)

    def __call__(self, x):
        return self.head(self.body(x))


class Callback:
    def on_step_begin(self, tr): ...
    def on_epoch_end(self, tr, logs): ...
    def on_fit_end(self, tr): ...


class LinearWarmup(Callback):
    def __init__(self, peak, steps):
        self.peak, self.steps = peak, steps

    def on_step_begin(self, tr):
        if tr.step <= self.steps:
            tr.opt.learning_rate = mx.array(self.peak * (tr.step - 1) / self.steps)


class PlateauHalver(Callback):
    def __init__(self, patience=2, floor=1e-4):
        self.patience, self.floor, self.best, self.wait = patience, floor, float("inf"), 0

    def on_epoch_end(self, tr, logs):
        if logs["val_mae"] < self.best - 1e-4:
            self.best, self.wait = logs["val_mae"], 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            new_lr = max(tr.opt.learning_rate.item() * 0.5, self.floor)
            tr.opt.learning_rate = mx.array(new_lr)
            logs["note"] += f" lr->{new_lr:.2e}"
            self.wait = 0


class BestKeeper(Callback):
    def __init__(self, path):
        self.path, self.best, self.best_epoch = path, float("inf"), -1

    def on_epoch_end(self, tr, logs):
        if logs["val_mae"] < self.best:
            self.best, self.best_epoch = logs["val_mae"], logs["epoch"]
            tr.model.save_weights(self.path)
            logs["note"] += " *saved"

    def on_fit_end(self, tr):
        tr.model.load_weights(self.path)
        print(f"# reloaded weights of epoch {self.best_epoch} (val MAE {self.best:.3f} %)")


class Patience(Callback):
    def __init__(self, patience=5):
        self.patience, self.best, self.wait = patience, float("inf"), 0

    def on_epoch_end(self, tr, logs):
        if logs["val_mae"] < self.best - 1e-4:
            self.best, self.wait = logs["val_mae"], 0
        else:
            self.wait += 1
            if self.wait >= self.patience:
                tr.stop = True
                logs["note"] += " stop"


class Trainer:
    def __init__(self, model, opt, callbacks):
        self.model, self.opt, self.callbacks = model, opt, callbacks
        self.step, self.stop = 0, False
        self.lg = nn.value_and_grad(model, lambda m, x, y: nn.losses.huber_loss(m(x), y, delta=1.0, reduction="mean"))

    def fit(self, xtr, ytr, xva, yva, epochs, batch, rng):
        n = xtr.shape[0]
        print("epoch | steps |   lr     | train huber | val MAE % | note")
        for epoch in range(1, epochs + 1):
            perm = rng.permutation(n)
            run, cnt = 0.0, 0
            for i in range(0, n - batch + 1, batch):
                self.step += 1
                for cb in self.callbacks:
                    cb.on_step_begin(self)
                idx = mx.array(perm[i : i + batch])
                loss, grads = self.lg(self.model, xtr[idx], ytr[idx])
                self.opt.update(self.model, grads)
                mx.eval(self.model.parameters(), self.opt.state, loss)
                run += loss.item()
                cnt += 1
            val_mae = mx.abs(self.model(xva) - yva).mean().item()
            logs = {"epoch": epoch, "val_mae": val_mae, "note": ""}
            lr_now = self.opt.learning_rate.item()
            for cb in self.callbacks:
                cb.on_epoch_end(self, logs)
            print(f"{epoch:5d} | {self.step:5d} | {lr_now:.2e} | {run / cnt:11.4f} | {val_mae:9.3f} |{logs['note']}")
            if self.stop:
                break
        for cb in self.callbacks:
            cb.on_fit_end(self)


def main():
    t0 = time.perf_counter()
    mx.random.seed(11)
    rng = np.random.default_rng(11)
    xtr, ytr = make_data(4000, rng)
    xva, yva = make_data(800, rng)

    # kiln master's rule: ordinary least squares on the raw features
    A = np.c_[xtr, np.ones(len(xtr))]
    coef, *_ = np.linalg.lstsq(A, ytr, rcond=None)
    base_mae = float(np.abs(np.c_[xva, np.ones(len(xva))] @ coef - yva).mean())
    print(f"# {len(xtr)} kiln loads for training, {len(xva)} held out")
    print(f"# baseline (linear rule) val MAE {base_mae:.3f} % | noise floor ~0.28 %")

    xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))
    model = KilnNet()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=0.0)
    ckpt = os.path.join(tempfile.mkdtemp(), "kiln_best.safetensors")
    steps_per_epoch = 4000 // 50
    callbacks = [
        LinearWarmup(peak=4e-3, steps=steps_per_epoch),
        PlateauHalver(patience=2),
        BestKeeper(ckpt),
        Patience(patience=5),
    ]
    Trainer(model, opt, callbacks).fit(xtr, ytr, xva, yva, epochs=60, batch=50, rng=rng)
    final = mx.abs(model(xva) - yva).mean().item()
    print(f"# final val MAE {final:.3f} % vs baseline {base_mae:.3f} % ({time.perf_counter() - t0:.1f}s)")


if __name__ == "__main__":
    main()
