# Fine-tune a small regressor in two sessions: train, checkpoint, "crash", resume.
# The LR follows a single cosine schedule over the whole run (TOTAL_STEPS).
import json
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

TOTAL_STEPS = 1600
CKPT_AT = 800
PEAK_LR = 2e-2
BATCH = 32

rng = np.random.default_rng(7)
W_TRUE = rng.normal(size=(8, 1)).astype(np.float32)


def make_batch(n):
    x = rng.normal(size=(n, 8)).astype(np.float32)
    y = np.tanh(x @ W_TRUE) + 0.5 * x[:, :1] * x[:, 1:2] + 0.1 * rng.normal(size=(n, 1))
    return mx.array(x), mx.array(y.astype(np.float32))


X_VAL, Y_VAL = make_batch(1024)


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 128)
        self.l2 = nn.Linear(128, 128)
        self.out = nn.Linear(128, 1)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


lr_schedule = optim.cosine_decay(PEAK_LR, TOTAL_STEPS, end=1e-5)


class Trainer:
    def __init__(self, ckpt_dir):
        self.ckpt_dir = ckpt_dir
        self.model = Regressor()
        self.optimizer = optim.AdamW(learning_rate=lr_schedule, weight_decay=1e-4)
        self.global_step = 0
        self.loss_history = []
        self.vg = nn.value_and_grad(self.model, loss_fn)

    def save(self):
        self.model.save_weights(os.path.join(self.ckpt_dir, "model.safetensors"))
        meta = {"step": self.global_step, "loss_history": self.loss_history}
        with open(os.path.join(self.ckpt_dir, "trainer.json"), "w") as f:
            json.dump(meta, f)

    def resume(self):
        self.model.load_weights(os.path.join(self.ckpt_dir, "model.safetensors"))
        with open(os.path.join(self.ckpt_dir, "trainer.json")) as f:
            meta = json.load(f)
        # Restore trainer state (basic restoration)
        self.global_step = meta["step"]
        self.loss_history = meta["loss_history"]
        print(f"resumed from step {self.global_step}")

    def val_loss(self):
        return loss_fn(self.model, X_VAL, Y_VAL).item()

    def train_until(self, stop_step):
        window = []
        while self.global_step < stop_step:
            x, y = make_batch(BATCH)
            loss, grads = self.vg(self.model, x, y)
            self.optimizer.update(self.model, grads)
            mx.eval(self.model.parameters(), self.optimizer.state, loss)
            window.append(loss.item())
            self.global_step += 1
            if self.global_step % 100 == 0:
                lr = self.optimizer.learning_rate.item()
                avg = sum(window) / len(window)
                self.loss_history.append(avg)
                window = []
                print(f"step {self.global_step:4d}/{TOTAL_STEPS}  lr {lr:.5f}  "
                      f"train_mse {avg:.4f}  val_mse {self.val_loss():.4f}")


def main():
    mx.random.seed(0)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as ckpt_dir:
        print("== session 1")
        tr = Trainer(ckpt_dir)
        tr.train_until(CKPT_AT)
        tr.save()
        val_at_ckpt = tr.val_loss()
        del tr

        print("== session 2 (resume)")
        tr = Trainer(ckpt_dir)
        tr.resume()
        tr.train_until(TOTAL_STEPS)
        print(f"done in {time.time() - t0:.1f}s  val_mse at checkpoint {val_at_ckpt:.4f}  "
              f"final val_mse {tr.val_loss():.4f}")


if __name__ == "__main__":
    main()
