"""Farmer's almanac: next-week rainfall (mm) from 8 station readings.

Small MLP trained with AdamW; metrics go through a callback that also keeps
a JSON-lines run log (one record per report) next to the console output.
"""
import json
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np


class TrainingCallback:
    def on_train_loss_report(self, train_info: dict):
        pass

    def on_val_loss_report(self, val_info: dict):
        pass


class ConsoleCallback(TrainingCallback):
    def on_train_loss_report(self, train_info: dict):
        print(
            f"Iter {train_info['iteration']}: Train loss {float(train_info['train_loss']):.4f}, "
            f"Learning Rate {float(train_info['learning_rate']):.3e}, "
            f"Grad norm {float(train_info['grad_norm']):.3f}, "
            f"It/sec {train_info['iterations_per_second']:.1f}",
            flush=True,
        )

    def on_val_loss_report(self, val_info: dict):
        print(
            f"Iter {val_info['iteration']}: Val loss {float(val_info['val_loss']):.4f}, "
            f"Val MAE {float(val_info['val_mae_mm']):.2f} mm",
            flush=True,
        )


class RunLogCallback(TrainingCallback):
    def __init__(self, log_path, wrapped_callback=None):
        self.log_path = log_path
        self.wrapped_callback = wrapped_callback
        with open(self.log_path, "w") as f:
            f.write(json.dumps({"event": "start", "project": "almanac-rain"}) + "\n")

    def _log(self, record: dict):
        with open(self.log_path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def on_train_loss_report(self, train_info: dict):
        self._log(train_info)
        if self.wrapped_callback:
            self.wrapped_callback.on_train_loss_report(train_info)

    def on_val_loss_report(self, val_info: dict):
        self._log(val_info)
        if self.wrapped_callback:
            self.wrapped_callback.on_val_loss_report(val_info)


def make_data(n, rng):
    x = rng.normal(size=(n, 8)).astype(np.float32)
    # pressure drop, humidity, wind, cloud cover, ... (made-up law)
    rain = (
        12.0
        + 6.0 * np.tanh(-1.2 * x[:, 0])
        + 4.0 * x[:, 1]
        + 2.5 * x[:, 2] * x[:, 3]
        + 3.0 * np.maximum(x[:, 4], 0.0)
        - 1.5 * x[:, 5]
    )
    rain = rain + rng.normal(scale=1.5, size=n)
    return x, rain.astype(np.float32)[:, None]


class RainNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    xtr, ytr = make_data(6000, rng)
    xva, yva = make_data(1000, rng)
    y_mu, y_sd = float(ytr.mean()), float(ytr.std())
    xtr, xva = mx.array(xtr), mx.array(xva)
    ytr_z, yva_z = mx.array((ytr - y_mu) / y_sd), mx.array((yva - y_mu) / y_sd)

    model = RainNet()
    mx.eval(model.parameters())
    sched = optim.cosine_decay(3e-3, 600, 1e-4)
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)

    def loss_fn(m, x, y):
        return nn.losses.mse_loss(m(x), y)

    loss_and_grad = nn.value_and_grad(model, loss_fn)

    log_dir = tempfile.mkdtemp()
    callback = RunLogCallback(os.path.join(log_dir, "run.jsonl"), ConsoleCallback())

    iters, batch, steps_per_report, steps_per_eval = 600, 64, 25, 100
    print(f"Training rainfall model: {xtr.shape[0]} train rows, {xva.shape[0]} val rows")
    losses, steps, tic = 0.0, 0, time.perf_counter()
    for it in range(1, iters + 1):
        idx = mx.array(rng.integers(0, xtr.shape[0], size=batch))
        loss, grads = loss_and_grad(model, xtr[idx], ytr_z[idx])
        grads, grad_norm = optim.clip_grad_norm(grads, max_norm=5.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, grad_norm)
        losses += loss.item()
        steps += 1

        if it % steps_per_report == 0:
            train_info = {
                "iteration": it,
                "train_loss": losses / steps,
                "learning_rate": opt.learning_rate.item(),
                "grad_norm": grad_norm,
                "iterations_per_second": steps / (time.perf_counter() - tic),
            }
            callback.on_train_loss_report(train_info)
            losses, steps, tic = 0.0, 0, time.perf_counter()

        if it % steps_per_eval == 0:
            pred = model(xva)
            val_loss = nn.losses.mse_loss(pred, yva_z).item()
            mae = (mx.abs(pred - yva_z).mean() * y_sd).item()
            callback.on_val_loss_report(
                {"iteration": it, "val_loss": val_loss, "val_mae_mm": mae}
            )

    with open(os.path.join(log_dir, "run.jsonl")) as f:
        n_records = sum(1 for _ in f)
    print(f"Run log: {n_records} records written")
    print("Done.")


if __name__ == "__main__":
    main()
