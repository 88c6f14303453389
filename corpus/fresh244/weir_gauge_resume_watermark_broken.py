"""Weir gauge stage regression: small MLP, two training sessions (second resumes
from the last checkpoint of the first), eval every 20 steps with early stopping
and load-best-at-end."""
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten


@dataclass
class Args:
    output_dir: str
    max_steps: int = 400
    learning_rate: float = 1.5e-4
    batch_size: int = 16
    eval_steps: int = 20
    save_steps: int = 60
    logging_steps: int = 20
    early_stopping_patience: int = 6
    load_best_model_at_end: bool = True
    metric_for_best_model: str = "eval_loss"
    greater_is_better: bool = False


class GaugeNet(nn.Module):
    def __init__(self, d_in=12, hidden=256):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.l3 = nn.Linear(hidden, 1)

    def __call__(self, x):
        return self.l3(nn.gelu(self.l2(nn.gelu(self.l1(x))))).squeeze(-1)


def make_data(seed=7):
    rng = np.random.default_rng(seed)
    d = 12
    w = rng.normal(size=d).astype(np.float32) / np.sqrt(d)

    def split(n):
        x = rng.normal(size=(n, d)).astype(np.float32)
        y = x @ w + 0.3 * np.sin(2 * x[:, 0]) + rng.normal(scale=0.5, size=n).astype(np.float32)
        return mx.array(x), mx.array(y)

    return split(96), split(600)


def save_trainable_adapters(model, path):
    os.makedirs(path, exist_ok=True)
    model.save_weights(f"{path}/adapters.safetensors")


def save_optimizer_state(optimizer, path):
    flat = dict(tree_flatten(optimizer.state))
    mx.save_safetensors(f"{path}/optimizer.safetensors", flat)


def load_optimizer_state(optimizer, path):
    flat = mx.load(f"{path}/optimizer.safetensors")
    optimizer.state = tree_unflatten(list(flat.items()))


def save_trainer_state(state, path):
    with open(f"{path}/trainer_state.json", "w") as f:
        json.dump(state, f)


def load_trainer_state(path):
    with open(f"{path}/trainer_state.json") as f:
        return json.load(f)


class GaugeTrainer:
    def __init__(self, model, args, train_set, eval_set, resume_from_checkpoint=None):
        self.model = model
        self.args = args
        self.train_set = train_set
        self.eval_set = eval_set
        self._resume_from_checkpoint = resume_from_checkpoint
        self.stop_requested = False
        self._best_metric = None
        self._best_step = None
        self._es_patience_counter = 0
        self._train_loss_history = []
        self._last_eval_metrics = {}

    def _evaluate(self):
        self.model.eval()
        x, y = self.eval_set
        val = nn.losses.mse_loss(self.model(x), y)
        mx.eval(val)
        val = val.item()
        self._last_eval_metrics = {"eval_loss": val}
        return val

    def train(self):
        args, model = self.args, self.model
        optimizer = optim.Adam(learning_rate=args.learning_rate)
        optimizer.init(model.trainable_parameters())

        _resume_step = 0
        _resume_from = self._resume_from_checkpoint
        if _resume_from:
            model.load_weights(f"{_resume_from}/adapters.safetensors", strict=False)
            load_optimizer_state(optimizer, _resume_from)
            ts = load_trainer_state(_resume_from)
            _resume_step = int(ts.get("global_step", 0))
            self._train_loss_history = list(ts.get("train_loss_history", []))
            print(f"Resuming from {os.path.basename(_resume_from)} (step={_resume_step}, "
                  f"loss_history={len(self._train_loss_history)} entries).")

        def loss_fn(m, xb, yb):
            return nn.losses.mse_loss(m(xb), yb)

        loss_and_grad = nn.value_and_grad(model, loss_fn)
        xtr, ytr = self.train_set
        n = xtr.shape[0]
        start = time.perf_counter()
        model.train()
        steps_run = 0
        for step in range(_resume_step, args.max_steps):
            if self.stop_requested:
                break
            current_step = step + 1
            rng = np.random.default_rng(current_step)
            idx = mx.array(rng.choice(n, size=args.batch_size, replace=False))
            loss, grads = loss_and_grad(model, xtr[idx], ytr[idx])
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state, loss)
            self._train_loss_history.append(loss.item())
            steps_run += 1

            if current_step % args.logging_steps == 0:
                recent = self._train_loss_history[-args.logging_steps:]
                print(f"Step {current_step}/{args.max_steps} | Loss: {sum(recent) / len(recent):.4f}")

            if current_step % args.eval_steps == 0:
                val_loss = self._evaluate()
                model.train()
                print(f"  Eval  {current_step}/{args.max_steps} | Val Loss: {val_loss:.4f}")
                _metric_name = args.metric_for_best_model
                _cur = self._last_eval_metrics[_metric_name]
                _greater = args.greater_is_better
                _improved = _cur == _cur and (
                    self._best_metric is None
                    or (_cur > self._best_metric if _greater else _cur < self._best_metric)
                )
                if _improved:
                    self._best_metric = _cur
                    self._best_step = current_step
                    self._es_patience_counter = 0
                    save_trainable_adapters(model, f"{args.output_dir}/best")
                else:
                    self._es_patience_counter += 1
                    _pat = args.early_stopping_patience
                    if _pat > 0 and self._es_patience_counter >= _pat:
                        print(f"Early stopping at step {current_step} "
                              f"(no {_metric_name} improvement in {_pat} evals).")
                        self.stop_requested = True

            if args.save_steps > 0 and current_step % args.save_steps == 0:
                ckpt_dir = f"{args.output_dir}/checkpoint-{current_step}"
                save_trainable_adapters(model, ckpt_dir)
                save_optimizer_state(optimizer, ckpt_dir)
                save_trainer_state(
                    {
                        "global_step": current_step,
                        "train_loss_history": list(self._train_loss_history),
                    },
                    ckpt_dir,
                )
                print(f"  Saved checkpoint to {os.path.basename(ckpt_dir)}")

        print(f"Training complete | {time.perf_counter() - start:.1f}s | "
              f"steps run this session: {steps_run}")
        if args.load_best_model_at_end and self._best_step is not None:
            model.load_weights(f"{args.output_dir}/best/adapters.safetensors", strict=False)
            print(f"Restored best model from step {self._best_step} "
                  f"({args.metric_for_best_model}={self._best_metric:.4f}).")


def main():
    mx.random.seed(0)
    train_set, eval_set = make_data()
    out = tempfile.mkdtemp()
    try:
        print("== session 1 (budget 180 steps) ==")
        model = GaugeNet()
        GaugeTrainer(model, Args(output_dir=out, max_steps=180), train_set, eval_set).train()

        print("== session 2 (resume, up to 400 steps) ==")
        model = GaugeNet()
        trainer = GaugeTrainer(model, Args(output_dir=out, max_steps=400), train_set, eval_set,
                               resume_from_checkpoint=f"{out}/checkpoint-180")
        trainer.train()

        final = trainer._evaluate()
        x, y = eval_set
        base = nn.losses.mse_loss(mx.zeros_like(y) + train_set[1].mean(), y).item()
        print(f"final model val mse: {final:.4f} (mean-predictor baseline {base:.4f})")
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
