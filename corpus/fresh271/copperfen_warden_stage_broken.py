"""Two-stage sensor-tag classifier: stage A (4 tags), then resume into a new run dir for stage B (8 tags)."""
import json
import os
import shutil
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

DIM, HIDDEN, NTAGS = 32, 96, 8


class TagNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(DIM, HIDDEN)
        self.l2 = nn.Linear(HIDDEN, HIDDEN)
        self.out = nn.Linear(HIDDEN, NTAGS)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


def make_stage(rng, centers, n_tags, n, spread):
    y = rng.integers(0, n_tags, size=n)
    x = centers[y] + rng.normal(size=(n, DIM)).astype(np.float32) * spread
    return mx.array(x), mx.array(y.astype(np.int32))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, x, y):
    logits = model(x)
    loss = nn.losses.cross_entropy(logits, y, reduction="mean")
    acc = mx.mean(mx.argmax(logits, axis=-1) == y)
    return loss.item(), acc.item()


class Trainer:
    def __init__(self, model, output_dir, lr, max_steps, eval_every, patience=None):
        self.model = model
        self.output_dir = output_dir
        self.max_steps = max_steps
        self.eval_every = eval_every
        self.patience = patience
        self.opt = optim.AdamW(learning_rate=lr, weight_decay=0.01)
        self.step = 0
        # native best (drives best/ weights and restore at end)
        self._best_metric = None
        self._best_step = None
        self._es_patience_counter = 0
        # callback-visible best (drives early stopping)
        self.cb_best_metric = None
        self.cb_best_step = None
        self.cb_counter = 0
        os.makedirs(output_dir, exist_ok=True)

    def resume(self, ckpt_dir):
        self.model.load_weights(os.path.join(ckpt_dir, "adapters.safetensors"))
        with open(os.path.join(ckpt_dir, "trainer_state.json")) as f:
            ts = json.load(f)
        self.step = ts["global_step"]
        self._best_metric = ts.get("best_metric", None)
        self._best_step = ts.get("best_step", None)
        self._es_patience_counter = int(ts.get("es_patience_counter", 0) or 0)
        best_path = f"{self.output_dir}/best/adapters.safetensors"
        best_weights_missing = self._best_step is not None and not os.path.exists(best_path)
        if best_weights_missing:
            print(f"checkpoint carries best state (step {self._best_step}) but "
                  f"{os.path.basename(self.output_dir)}/best has no weights; restarting best tracking")
            self._best_metric = None
            self._best_step = None
            self._es_patience_counter = 0
        self.cb_best_metric = ts.get("callback_best_metric", self._best_metric)
        self.cb_best_step = ts.get("callback_best_step", self._best_step)
        print(f"resumed from {os.path.basename(ckpt_dir)} at step {self.step}")

    def save_checkpoint(self):
        ckpt = os.path.join(self.output_dir, f"checkpoint-{self.step}")
        os.makedirs(ckpt, exist_ok=True)
        self.model.save_weights(os.path.join(ckpt, "adapters.safetensors"))
        ts = {
            "global_step": self.step,
            "best_metric": self._best_metric,
            "best_step": self._best_step,
            "es_patience_counter": self._es_patience_counter,
            "callback_best_metric": self.cb_best_metric,
            "callback_best_step": self.cb_best_step,
        }
        with open(os.path.join(ckpt, "trainer_state.json"), "w") as f:
            json.dump(ts, f)
        return ckpt

    def on_evaluate(self, metric):
        # native best -> best/ weights
        if self._best_metric is None or metric < self._best_metric:
            self._best_metric, self._best_step = metric, self.step
            os.makedirs(f"{self.output_dir}/best", exist_ok=True)
            self.model.save_weights(f"{self.output_dir}/best/adapters.safetensors")
        # callback-visible watermark -> early stopping
        stop = False
        if self.cb_best_metric is None or metric < self.cb_best_metric - 1e-3:
            self.cb_best_metric, self.cb_best_step = metric, self.step
            self.cb_counter = 0
        else:
            self.cb_counter += 1
            if self.patience is not None and self.cb_counter >= self.patience:
                stop = True
        return stop

    def train(self, xtr, ytr, xva, yva, batch=64, seed=0):
        rng = np.random.default_rng(seed + self.step)
        lg = nn.value_and_grad(self.model, loss_fn)
        run_loss, run_n = 0.0, 0
        while self.step < self.max_steps:
            idx = mx.array(rng.integers(0, xtr.shape[0], size=batch))
            loss, grads = lg(self.model, xtr[idx], ytr[idx])
            self.opt.update(self.model, grads)
            mx.eval(self.model.parameters(), self.opt.state, loss)
            self.step += 1
            run_loss += loss.item()
            run_n += 1
            if self.step % self.eval_every == 0:
                vl, va = evaluate(self.model, xva, yva)
                print(f"step {self.step:4d} | train {run_loss / run_n:.4f} | val {vl:.4f} | val_acc {va:.3f}")
                run_loss, run_n = 0.0, 0
                if self.on_evaluate(vl):
                    print(f"early stopping at step {self.step} (best {self.cb_best_metric:.4f} @ {self.cb_best_step})")
                    break
        if self._best_step is not None:
            self.model.load_weights(f"{self.output_dir}/best/adapters.safetensors")
            print(f"restored best from step {self._best_step} (val {self._best_metric:.4f})")


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(7)
    root = tempfile.mkdtemp()
    centers_a = rng.normal(size=(NTAGS, DIM)).astype(np.float32) * 0.45
    centers_b = rng.normal(size=(NTAGS, DIM)).astype(np.float32) * 0.45
    xa, ya = make_stage(rng, centers_a, 4, 4000, 1.0)
    xav, yav = make_stage(rng, centers_a, 4, 800, 1.0)
    xb, yb = make_stage(rng, centers_b, 8, 6000, 0.8)
    xbv, ybv = make_stage(rng, centers_b, 8, 1000, 0.8)

    model = TagNet()
    mx.eval(model.parameters())

    print("== stage A: 4 tags ==")
    ta = Trainer(model, os.path.join(root, "run_a"), lr=2e-3, max_steps=200, eval_every=25)
    ta.train(xa, ya, xav, yav)
    ckpt = ta.save_checkpoint()
    print(f"saved {os.path.basename(ckpt)}")

    print("== stage B: 8 tags, new run dir ==")
    tb = Trainer(model, os.path.join(root, "run_b"), lr=5e-4, max_steps=900, eval_every=25, patience=3)
    tb.resume(ckpt)
    tb.train(xb, yb, xbv, ybv, seed=1)
    vl, va = evaluate(model, xbv, ybv)
    print(f"final stage B | steps run {tb.step - 200} | val {vl:.4f} | val_acc {va:.3f}")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
