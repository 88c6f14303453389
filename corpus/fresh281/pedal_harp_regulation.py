"""Pedal-harp regulation log: how many cents a string has gone flat after a concert.

A small Keras-like fit() loop written for MLX with a list of callbacks
(progress line, stopwatch, reduce-lr-on-plateau, early stopping with best
weights kept, history).  Synthetic data.
"""
import math
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

SEED = 7
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

# ---------------------------------------------------------------- data
MATERIALS = ["gut", "nylon", "wire"]


def make_strings(n):
    mat = rng.integers(0, 3, n)
    octave = rng.uniform(0.0, 6.5, n)              # 0 = top, 6.5 = bass
    tension_kg = rng.uniform(4.0, 22.0, n)
    hours_since_restring = rng.exponential(60.0, n)
    humidity_drop = rng.normal(0.0, 8.0, n)         # % RH change during the concert
    stage_temp_rise = rng.normal(3.0, 2.0, n)       # deg C
    play_minutes = rng.uniform(20.0, 120.0, n)
    stretch = np.array([1.0, 0.55, 0.08])[mat]      # how much a material creeps
    hygro = np.array([1.0, 0.25, 0.0])[mat]         # humidity sensitivity
    cents = (
        stretch * 14.0 * np.exp(-hours_since_restring / 40.0)
        + hygro * 0.9 * humidity_drop
        + 1.6 * stage_temp_rise * (1.0 + 0.1 * octave)
        + 0.05 * play_minutes * stretch
        - 0.12 * (tension_kg - 12.0)
        + 2.0 * np.sin(octave)
    )
    cents = cents + rng.normal(0.0, 2.5, n)         # tuner-reading noise floor
    x = np.stack([
        octave / 6.5,
        (tension_kg - 13.0) / 5.2,
        np.log1p(hours_since_restring) / 4.0,
        humidity_drop / 8.0,
        (stage_temp_rise - 3.0) / 2.0,
        (play_minutes - 70.0) / 29.0,
    ], axis=1)
    onehot = np.eye(3)[mat]
    return np.concatenate([x, onehot], axis=1).astype(np.float32), cents.astype(np.float32)


X_all, y_all = make_strings(7000)
X_test, y_test = make_strings(1500)
Y_MEAN, Y_STD = float(y_all.mean()), float(y_all.std())


# ---------------------------------------------------------------- model
class FlatDrift(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


# ---------------------------------------------------------------- callbacks
class Callback:
    def on_train_begin(self, trainer): pass
    def on_epoch_begin(self, trainer, epoch): pass
    def on_batch_end(self, trainer, step, logs): pass
    def on_epoch_end(self, trainer, epoch, logs): pass
    def on_train_end(self, trainer): pass


class ProgressLine(Callback):
    """One carriage-return progress line per epoch, finished with the epoch logs."""

    def __init__(self, width=24):
        self.width = width

    def on_epoch_begin(self, trainer, epoch):
        self.epoch = epoch
        self.t0 = time.perf_counter()

    def on_batch_end(self, trainer, step, logs):
        done = step + 1
        total = trainer.steps_per_epoch
        if done % 8 and done != total:
            return
        filled = int(self.width * done / total)
        bar = "#" * filled + "." * (self.width - filled)
        rate = done / max(time.perf_counter() - self.t0, 1e-9)
        eta = (total - done) / rate
        sys.stdout.write(f"\repoch {self.epoch:2d} [{bar}] {done:3d}/{total} eta {eta:4.1f}s")
        sys.stdout.flush()

    def on_epoch_end(self, trainer, epoch, logs):
        sys.stdout.write(
            f"\repoch {epoch:2d} [{'#' * self.width}] "
            f"loss {logs['loss']:.4f}  val_rmse {logs['val_rmse']:.3f} c  "
            f"lr {logs['lr']:.2e}\n"
        )
        sys.stdout.flush()


class Stopwatch(Callback):
    def on_train_begin(self, trainer):
        self.start = time.perf_counter()
        self.epoch_times = []

    def on_epoch_begin(self, trainer, epoch):
        self.t = time.perf_counter()

    def on_epoch_end(self, trainer, epoch, logs):
        self.epoch_times.append(time.perf_counter() - self.t)

    def on_train_end(self, trainer):
        total = time.perf_counter() - self.start
        print(f"stopwatch: {len(self.epoch_times)} epochs, {total:.2f}s total, "
              f"median epoch {np.median(self.epoch_times):.3f}s")


class ReduceLROnPlateau(Callback):
    def __init__(self, monitor="val_rmse", factor=0.5, patience=2, min_rel=0.01,
                 cooldown=1, min_lr=1e-5):
        self.monitor, self.factor, self.patience = monitor, factor, patience
        self.min_rel, self.cooldown, self.min_lr = min_rel, cooldown, min_lr
        self.best = math.inf
        self.wait = 0
        self.cool = 0

    def on_epoch_end(self, trainer, epoch, logs):
        cur = logs[self.monitor]
        if self.cool > 0:
            self.cool -= 1
        if cur < self.best * (1.0 - self.min_rel):
            self.best = cur
            self.wait = 0
            return
        if self.cool > 0:
            return
        self.wait += 1
        if self.wait >= self.patience:
            old = trainer.lr
            new = max(old * self.factor, self.min_lr)
            if new < old:
                trainer.set_lr(new)
                print(f"  reduce_lr: {self.monitor} flat for {self.wait} epochs, lr {old:.2e} -> {new:.2e}")
            self.wait = 0
            self.cool = self.cooldown


class EarlyStopping(Callback):
    def __init__(self, monitor="val_rmse", patience=6, restore_best=True):
        self.monitor, self.patience, self.restore_best = monitor, patience, restore_best
        self.best = math.inf
        self.best_epoch = -1
        self.best_params = None
        self.wait = 0

    def on_epoch_end(self, trainer, epoch, logs):
        cur = logs[self.monitor]
        if cur < self.best:
            self.best, self.best_epoch, self.wait = cur, epoch, 0
            self.best_params = tree_map(lambda p: mx.array(p), trainer.model.parameters())
            mx.eval(self.best_params)
        else:
            self.wait += 1
            if self.wait >= self.patience:
                trainer.stop_training = True
                print(f"  early_stop: no better {self.monitor} for {self.wait} epochs "
                      f"(best {self.best:.3f} at epoch {self.best_epoch})")

    def on_train_end(self, trainer):
        if self.restore_best and self.best_params is not None:
            trainer.model.update(self.best_params)
            print(f"  early_stop: weights of epoch {self.best_epoch} restored")


class History(Callback):
    def on_train_begin(self, trainer):
        self.rows = []

    def on_epoch_end(self, trainer, epoch, logs):
        self.rows.append(dict(epoch=epoch, **logs))


# ---------------------------------------------------------------- trainer
class Trainer:
    def __init__(self, model, lr, batch_size, callbacks):
        self.model = model
        self.lr = lr
        self.opt = optim.Adam(learning_rate=lr)
        self.batch_size = batch_size
        self.callbacks = callbacks
        self.stop_training = False
        self.grad_fn = nn.value_and_grad(model, loss_fn)

    def set_lr(self, lr):
        self.lr = lr
        self.opt.learning_rate = lr

    def _emit(self, name, *args):
        for cb in self.callbacks:
            getattr(cb, name)(self, *args)

    def rmse(self, x, y):
        pred = self.model(x) * Y_STD + Y_MEAN
        return math.sqrt(mx.mean((pred - y) ** 2).item())

    def fit(self, x, y, x_val, y_val_cents, epochs):
        n = x.shape[0]
        self.steps_per_epoch = n // self.batch_size
        self._emit("on_train_begin")
        for epoch in range(1, epochs + 1):
            self._emit("on_epoch_begin", epoch)
            perm = mx.array(rng.permutation(n))
            total = mx.array(0.0)
            for step in range(self.steps_per_epoch):
                idx = perm[step * self.batch_size:(step + 1) * self.batch_size]
                loss, grads = self.grad_fn(self.model, x[idx], y[idx])
                self.opt.update(self.model, grads)
                total = total + loss
                mx.eval(self.model.parameters(), self.opt.state, total)
                self._emit("on_batch_end", step, {"loss": loss})
            logs = {
                "loss": total.item() / self.steps_per_epoch,
                "val_rmse": self.rmse(x_val, y_val_cents),
                "lr": self.lr,
            }
            self._emit("on_epoch_end", epoch, logs)
            if self.stop_training:
                break
        self._emit("on_train_end")


# ---------------------------------------------------------------- run
n_val = 1400
x_tr = mx.array(X_all[n_val:])
y_tr = mx.array((y_all[n_val:] - Y_MEAN) / Y_STD)
x_va = mx.array(X_all[:n_val])
y_va = mx.array(y_all[:n_val])
x_te = mx.array(X_test)
y_te = mx.array(y_test)

print(f"strings: train {x_tr.shape[0]}, val {n_val}, test {X_test.shape[0]}; "
      f"flat drift mean {Y_MEAN:.2f} c, sd {Y_STD:.2f} c")
print(f"baseline (predict train mean): test rmse {float(np.sqrt(np.mean((y_test - Y_MEAN) ** 2))):.3f} c; "
      f"tuner noise floor 2.5 c")

model = FlatDrift(X_all.shape[1])
mx.eval(model.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"model: {n_params} parameters")

print(f"untrained: val rmse {Trainer(model, 0.0, 64, []).rmse(x_va, y_va):.3f} c")

history = History()
stopper = EarlyStopping(patience=6)
cbs = [ProgressLine(), Stopwatch(), ReduceLROnPlateau(), stopper, history]
trainer = Trainer(model, lr=3e-3, batch_size=64, callbacks=cbs)
trainer.fit(x_tr, y_tr, x_va, y_va, epochs=60)

test_rmse = trainer.rmse(x_te, y_te)
within5 = float(mx.mean(mx.abs(model(x_te) * Y_STD + Y_MEAN - y_te) < 5.0).item()) * 100
print(f"history: {len(history.rows)} epochs, lr went "
      f"{history.rows[0]['lr']:.1e} -> {history.rows[-1]['lr']:.1e}")
print(f"restored epoch {stopper.best_epoch}: val rmse {stopper.best:.3f} c, "
      f"test rmse {test_rmse:.3f} c, within 5 c {within5:.1f}%")
