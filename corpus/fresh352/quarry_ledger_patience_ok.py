"""Granite block grading at the quarry: a small learning-rate sweep.

Each trial builds a fresh grader and a fresh trainer; the trainer evaluates
once per epoch, keeps the best checkpoint by eval loss and stops early when
the eval loss has not improved for a few epochs.
"""

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


# ---------------------------------------------------------------- data
def make_blocks(n, rng):
    """Six ledger readings per block -> grade 0 (monument), 1 (paving), 2 (rubble)."""
    velocity = rng.normal(5.2, 0.6, n)        # ultrasonic km/s
    density = rng.normal(2.65, 0.05, n)       # g/cm3
    porosity = rng.gamma(2.0, 0.6, n)         # %
    cracks = rng.poisson(2.0, n).astype(np.float64)
    bed_dip = rng.uniform(0, 40, n)           # degrees
    mica = rng.beta(2, 6, n)                  # fraction
    score = (1.8 * (velocity - 5.2) + 9.0 * (density - 2.65) - 0.9 * porosity
             - 0.55 * cracks - 0.02 * bed_dip - 2.0 * mica
             + rng.logistic(0, 0.35, n))
    grade = np.where(score > -0.9, 0, np.where(score > -2.6, 1, 2))
    X = np.stack([velocity, density, porosity, cracks, bed_dip, mica], 1)
    return X.astype(np.float32), grade.astype(np.int32)


rng = np.random.default_rng(11)
X_tr, y_tr = make_blocks(6000, rng)
X_va, y_va = make_blocks(1500, rng)
mu, sd = X_tr.mean(0), X_tr.std(0)
X_tr = (X_tr - mu) / sd
X_va = (X_va - mu) / sd


def loader(X, y, batch_size, shuffle, seed=0):
    idx = np.arange(len(X))
    if shuffle:
        np.random.default_rng(seed).shuffle(idx)
    for s in range(0, len(X), batch_size):
        b = idx[s:s + batch_size]
        yield {"features": mx.array(X[b]), "labels": mx.array(y[b])}


# ---------------------------------------------------------------- model
class BlockGrader(nn.Module):
    def __init__(self, d_in=6, hidden=64, n_grades=3):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, n_grades)

    def __call__(self, features, labels=None):
        h = nn.gelu(self.l1(features))
        h = nn.gelu(self.l2(h)) + h
        logits = self.head(h)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = nn.losses.cross_entropy(logits, labels, reduction="mean")
            out["accuracy"] = (mx.argmax(logits, -1) == labels).astype(mx.float32).mean()
        return out


# ---------------------------------------------------------------- trainer
@dataclass
class TrainConfig:
    learning_rate: float = 1e-3
    num_epochs: int = 30
    batch_size: int = 64
    early_stopping: bool = True
    early_stopping_patience: int = 3
    best_metric: str = "eval_loss"
    best_metric_mode: str = "min"
    output_dir: Path = Path(".")


@dataclass
class TrainingState:
    epoch: int = 0
    global_step: int = 0
    train_loss: float = 0.0
    val_loss: float = 0.0
    best_val_metric: float = float("inf")
    no_improvement_count: int = 0
    should_stop: bool = False
    val_history: List[Dict[str, float]] = field(default_factory=list)


class BaseTrainer:
    def __init__(self, model, config: TrainConfig):
        self.model = model
        self.config = config
        self.optimizer = optim.AdamW(learning_rate=config.learning_rate, weight_decay=0.01)
        self.state = TrainingState()
        self._best_metric_value = float("inf") if config.best_metric_mode == "min" else float("-inf")
        self._best_path = None

        def loss_fn(model, batch):
            outputs = model(**batch)
            return outputs["loss"], outputs["accuracy"]

        self._value_and_grad = nn.value_and_grad(self.model, loss_fn)

    def _is_better(self, new, best):
        return new < best if self.config.best_metric_mode == "min" else new > best

    def _train_step(self, batch):
        (loss, acc), grads = self._value_and_grad(self.model, batch)
        self.optimizer.update(self.model, grads)
        mx.eval(loss, acc, self.model.parameters(), self.optimizer.state)
        return loss.item(), acc.item()

    def evaluate(self, batches) -> Dict[str, float]:
        total_loss, total_metrics, num_batches = 0.0, {}, 0
        for batch in batches:
            outputs = self.model(**batch)
            mx.eval(outputs["loss"], outputs["accuracy"])
            total_loss += outputs["loss"].item()
            total_metrics["accuracy"] = total_metrics.get("accuracy", 0.0) + outputs["accuracy"].item()
            num_batches += 1
        avg_metrics = {"loss": total_loss / num_batches,
                       **{k: v / num_batches for k, v in total_metrics.items()}}
        return {f"eval_{k}": v for k, v in avg_metrics.items()}

    def _save_checkpoint(self, tag):
        path = self.config.output_dir / f"{tag}.safetensors"
        mx.save_safetensors(str(path), dict(tree_flatten(self.model.parameters())))
        return path

    def train(self, seed):
        cfg = self.config
        for epoch in range(cfg.num_epochs):
            self.state.epoch = epoch + 1
            losses = []
            for batch in loader(X_tr, y_tr, cfg.batch_size, True, seed * 1000 + epoch):
                loss, _ = self._train_step(batch)
                losses.append(loss)
                self.state.global_step += 1
                if self.state.global_step % 40 == 0:
                    print(f"    step {self.state.global_step:5d} loss {np.mean(losses[-40:]):.4f}")
            self.state.train_loss = float(np.mean(losses))

            val_metrics = self.evaluate(loader(X_va, y_va, 500, False))
            self.state.val_loss = val_metrics.get("eval_loss", val_metrics.get("loss", 0.0))
            self.state.val_history.append(val_metrics)

            metric_value = val_metrics[cfg.best_metric]
            if self._is_better(metric_value, self._best_metric_value):
                self._best_metric_value = metric_value
                self.state.best_val_metric = metric_value
                self.state.no_improvement_count = 0
                self._best_path = self._save_checkpoint("best")
                mark = "*"
            else:
                self.state.no_improvement_count += 1
                mark = ""
            print(f"  epoch {self.state.epoch:2d} | step {self.state.global_step:5d} | "
                  f"train_loss {self.state.train_loss:.4f} | val_loss {self.state.val_loss:.4f} | "
                  f"val_acc {val_metrics['eval_accuracy']:.3f} {mark}")

            if cfg.early_stopping and self.state.no_improvement_count >= cfg.early_stopping_patience:
                self.state.should_stop = True
                print(f"  early stop after {self.state.no_improvement_count} epochs without improvement")
                break

        self.model.load_weights(str(self._best_path))
        final = self.evaluate(loader(X_va, y_va, 500, False))
        return {"best_val_loss": self._best_metric_value,
                "restored_val_loss": final["eval_loss"],
                "restored_val_acc": final["eval_accuracy"],
                "epochs_run": self.state.epoch}


# ---------------------------------------------------------------- sweep
def main():
    t0 = time.perf_counter()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for trial, lr in enumerate([3e-4, 1e-3, 3e-3]):
            mx.random.seed(100 + trial)
            out = Path(tmp) / f"trial{trial}"
            out.mkdir()
            model = BlockGrader()
            mx.eval(model.parameters())
            trainer = BaseTrainer(model, TrainConfig(learning_rate=lr, output_dir=out))
            print(f"trial {trial}: lr={lr:g}")
            results[lr] = trainer.train(seed=trial)
            print(f"  restored best: val_loss {results[lr]['restored_val_loss']:.4f} "
                  f"val_acc {results[lr]['restored_val_acc']:.3f}")
    best_lr = min(results, key=lambda k: results[k]["best_val_loss"])
    majority = np.bincount(y_va).max() / len(y_va)
    print("sweep summary:", json.dumps({str(k): round(v["best_val_loss"], 4) for k, v in results.items()}))
    print(f"chosen lr={best_lr:g} val_acc={results[best_lr]['restored_val_acc']:.3f} "
          f"(majority-grade baseline {majority:.3f}) in {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
