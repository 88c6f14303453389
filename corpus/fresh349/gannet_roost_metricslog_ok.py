"""Tiny BERT-style sequence classifier trained with a callback-driven trainer."""
import json
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

VOCAB, SEQ, DIM = 48, 16, 32


class TinyBert(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(SEQ, DIM)
        self.encoder = nn.TransformerEncoder(num_layers=2, dims=DIM, num_heads=4, mlp_dims=64)
        self.head = nn.Linear(DIM, 2)

    def __call__(self, ids):
        h = self.tok(ids) + self.pos(mx.arange(ids.shape[1]))
        h = self.encoder(h, None)
        return self.head(h.mean(axis=1))


def make_data(n, rng):
    ids = rng.integers(0, VOCAB, size=(n, SEQ))
    labels = ((ids == 3).sum(1) > (ids == 5).sum(1)).astype(np.int32)
    return mx.array(ids), mx.array(labels)


@dataclass
class TrainingState:
    epoch: int = 0
    global_step: int = 0
    train_loss: float = 0.0
    val_loss: float = 0.0
    metrics: dict = field(default_factory=dict)


@dataclass
class TrainingResult:
    total_epochs: int
    total_steps: int
    final_train_loss: float
    final_val_loss: float
    best_val_loss: float


class Callback:
    def on_train_begin(self, trainer, state): pass
    def on_epoch_begin(self, trainer, state): pass
    def on_batch_begin(self, trainer, state, batch): pass
    def on_batch_end(self, trainer, state, loss): pass
    def on_epoch_end(self, trainer, state): pass
    def on_train_end(self, trainer, state, result): pass


class MetricsLogger(Callback):
    def __init__(self, log_dir):
        self.log_dir = Path(log_dir)
        self.metrics_history = defaultdict(list)
        self.epoch_metrics = defaultdict(list)
        self.batch_metrics = []
        self.epoch_times = []
        self.batch_times = []
        self.last_batch_time = None

    def on_train_begin(self, trainer, state):
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.start_time = datetime.now()
        print(f"MetricsLogger: saving metrics to {self.log_dir}")

    def on_epoch_begin(self, trainer, state):
        self.epoch_start_time = datetime.now()

    def on_batch_begin(self, trainer, state, batch):
        self.last_batch_time = datetime.now()

    def on_batch_end(self, trainer, state, loss):
        if self.last_batch_time:
            batch_time = (datetime.now() - self.last_batch_time).total_seconds()
            self.batch_times.append(batch_time)
        batch_metrics = {
            "step": state.global_step,
            "epoch": state.epoch,
            "loss": loss,
            "learning_rate": trainer.optimizer.learning_rate,
            "batch_time": batch_time if self.last_batch_time else 0,
        }
        self.batch_metrics.append(batch_metrics)
        for key, value in batch_metrics.items():
            if isinstance(value, (int, float)):
                self.metrics_history[f"batch_{key}"].append((state.global_step, value))

    def on_epoch_end(self, trainer, state):
        epoch_time = (datetime.now() - self.epoch_start_time).total_seconds()
        self.epoch_times.append(epoch_time)
        epoch_metrics = {"epoch": state.epoch, "train_loss": state.train_loss, "epoch_time": epoch_time}
        if state.val_loss > 0:
            epoch_metrics["val_loss"] = state.val_loss
        epoch_metrics.update(state.metrics)
        for key, value in epoch_metrics.items():
            if isinstance(value, (int, float)):
                self.epoch_metrics[key].append(value)
                self.metrics_history[f"epoch_{key}"].append((state.epoch, value))
        self._save_metrics()

    def on_train_end(self, trainer, state, result):
        total_time = (datetime.now() - self.start_time).total_seconds()
        summary = {
            "total_time_seconds": total_time,
            "total_epochs": result.total_epochs,
            "total_steps": result.total_steps,
            "final_train_loss": result.final_train_loss,
            "final_val_loss": result.final_val_loss,
            "best_val_loss": result.best_val_loss,
            "average_epoch_time": sum(self.epoch_times) / len(self.epoch_times) if self.epoch_times else 0,
        }
        summary_path = self.log_dir / "training_summary.json"
        serializable_summary = self._make_json_serializable(summary)
        with open(summary_path, "w") as f:
            json.dump(serializable_summary, f, indent=2)
        self._save_metrics()
        print(f"MetricsLogger: saved all metrics to {self.log_dir}")

    def _make_json_serializable(self, obj):
        """Convert MLX arrays and other non-serializable objects to JSON-serializable format."""
        import mlx.core as mx
        import numpy as np
        
        # Check if it's an MLX array directly
        if isinstance(obj, mx.array):
            try:
                return obj.item() if obj.size == 1 else obj.tolist()
            except:
                return float(obj)
        # Check if it's a numpy array
        elif isinstance(obj, np.ndarray):
            try:
                return obj.item() if obj.size == 1 else obj.tolist()
            except:
                return float(obj)
        # Check if it's an MLX array by module
        elif hasattr(obj, '__module__') and obj.__module__ and 'mlx' in obj.__module__:
            if hasattr(obj, 'item') and hasattr(obj, 'size'):
                try:
                    return obj.item() if obj.size == 1 else obj.tolist()
                except:
                    return float(obj)
            else:
                # For other MLX objects, convert to string
                return str(obj)
        elif hasattr(obj, 'item') and hasattr(obj, 'size'):
            # Handle numpy arrays or similar
            try:
                return obj.item() if obj.size == 1 else obj.tolist()
            except:
                return float(obj)
        elif isinstance(obj, dict):
            return {k: self._make_json_serializable(v) for k, v in obj.items()}
        elif isinstance(obj, list):
            return [self._make_json_serializable(v) for v in obj]
        elif isinstance(obj, tuple):
            return [self._make_json_serializable(v) for v in obj]
        elif isinstance(obj, (np.integer, np.floating)):
            # Handle numpy scalar types
            return obj.item()
        elif isinstance(obj, np.bool_):
            return bool(obj)
        else:
            # For any other type, try to convert to string if not already serializable
            try:
                json.dumps(obj)
                return obj
            except:
                return str(obj)

    def _save_metrics(self):
        metrics_data = {
            "epoch_metrics": self.epoch_metrics,
            "batch_metrics": self.batch_metrics,
            "metrics_history": {k: list(v) for k, v in self.metrics_history.items()},
        }

        serializable_data = self._make_json_serializable(metrics_data)

        with open(self.log_dir / "metrics.json", "w") as f:
            json.dump(serializable_data, f, indent=2)


class Trainer:
    def __init__(self, model, optimizer, callbacks, batch_size=32):
        self.model = model
        self.optimizer = optimizer
        self.callbacks = callbacks
        self.batch_size = batch_size

    def _loss(self, model, x, y):
        return nn.losses.cross_entropy(model(x), y, reduction="mean")

    def evaluate(self, x, y):
        logits = self.model(x)
        loss = nn.losses.cross_entropy(logits, y, reduction="mean").item()
        acc = (logits.argmax(axis=1) == y).mean().item()
        return loss, acc

    def fit(self, train, val, epochs):
        state = TrainingState()
        step_fn = nn.value_and_grad(self.model, self._loss)
        for cb in self.callbacks:
            cb.on_train_begin(self, state)
        best_val = float("inf")
        x, y = train
        n = x.shape[0]
        for epoch in range(1, epochs + 1):
            state.epoch = epoch
            for cb in self.callbacks:
                cb.on_epoch_begin(self, state)
            perm = mx.array(np.random.permutation(n))
            losses = []
            for i in range(0, n, self.batch_size):
                idx = perm[i:i + self.batch_size]
                batch = (x[idx], y[idx])
                for cb in self.callbacks:
                    cb.on_batch_begin(self, state, batch)
                loss, grads = step_fn(self.model, *batch)
                self.optimizer.update(self.model, grads)
                mx.eval(self.model.parameters(), self.optimizer.state, loss)
                state.global_step += 1
                losses.append(loss.item())
                for cb in self.callbacks:
                    cb.on_batch_end(self, state, losses[-1])
            state.train_loss = float(np.mean(losses))
            state.val_loss, acc = self.evaluate(*val)
            state.metrics = {"val_accuracy": acc}
            best_val = min(best_val, state.val_loss)
            print(f"epoch {epoch}: train_loss={state.train_loss:.4f} val_loss={state.val_loss:.4f} "
                  f"val_acc={acc:.3f} lr={self.optimizer.learning_rate.item():.2e}")
            for cb in self.callbacks:
                cb.on_epoch_end(self, state)
        result = TrainingResult(epochs, state.global_step, state.train_loss, state.val_loss, best_val)
        for cb in self.callbacks:
            cb.on_train_end(self, state, result)
        return result


def main():
    t0 = time.time()
    np.random.seed(0)
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    train = make_data(2048, rng)
    val = make_data(512, rng)
    model = TinyBert()
    epochs, steps_per_epoch = 8, 2048 // 32
    schedule = optim.cosine_decay(2e-3, epochs * steps_per_epoch, 1e-5)
    optimizer = optim.AdamW(learning_rate=schedule, weight_decay=0.01)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(model, optimizer, [MetricsLogger(Path(tmp) / "metrics")])
        result = trainer.fit(train, val, epochs)
    print(f"finished: steps={result.total_steps} best_val_loss={result.best_val_loss:.4f} "
          f"time={time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
