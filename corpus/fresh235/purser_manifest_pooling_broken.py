"""Passenger-manifest survival classifier: short templated text rows, masked
mean-pooled token embeddings, small MLP head. Streaming pipeline with shuffle
buffer, batching and prefetch; trainer with periodic validation."""
import random
import threading
import queue
from typing import Dict, Iterator

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(0)
np.random.seed(0)
mx.random.seed(0)

VOCAB = ["<pad>", "<cls>", "passenger", "class", "first", "second", "third",
         "male", "female", "child", "adult", "elderly", "embarked", "southampton",
         "cherbourg", "queenstown", "fare", "low", "mid", "high", "cabin", "known",
         "unknown", "travels", "alone", "with", "family", "a", "the", "is", "in"]
TOK = {w: i for i, w in enumerate(VOCAB)}


def make_manifest(n, rng):
    rows = []
    for _ in range(n):
        pclass = rng.choice(["first", "second", "third"], p=[0.25, 0.25, 0.5])
        sex = rng.choice(["male", "female"])
        age = rng.choice(["child", "adult", "elderly"], p=[0.15, 0.7, 0.15])
        port = rng.choice(["southampton", "cherbourg", "queenstown"])
        fare = {"first": "high", "second": "mid", "third": "low"}[pclass]
        cabin = "known" if (pclass == "first" or rng.random() < 0.2) else "unknown"
        fam = rng.choice(["alone", "family"])
        score = (1.6 if sex == "female" else -1.0) + {"first": 1.0, "second": 0.2, "third": -0.8}[pclass] \
            + (0.9 if age == "child" else 0.0) + rng.normal(0, 0.6)
        rows.append(dict(pclass=pclass, sex=sex, age=age, port=port, fare=fare,
                         cabin=cabin, fam=fam, survived=int(score > 0)))
    return rows


class ManifestTemplates:
    def row_to_text(self, row, rng):
        parts = [["passenger", "in", row["pclass"], "class"],
                 ["a", row["sex"], row["age"]],
                 ["embarked", row["port"]],
                 ["fare", row["fare"]],
                 ["cabin", row["cabin"]],
                 ["travels", "alone"] if row["fam"] == "alone" else ["travels", "with", "family"]]
        rng.shuffle(parts)
        return ["<cls>"] + [w for p in parts for w in p]


class ManifestDataPipeline:
    def __init__(self, rows, max_length=24, batch_size=32, prefetch_size=4,
                 is_training=True, augment=True, cache_size=256):
        self.max_length = max_length
        self.batch_size = batch_size
        self.prefetch_size = prefetch_size
        self.is_training = is_training
        self.augment = augment
        self.cache_size = cache_size
        self.rng = np.random.default_rng(1 if is_training else 2)
        self.templates = ManifestTemplates()
        self.rows = rows
        self.prepare_data()

        # Create data stream
        self.stream = self._create_stream()

    def prepare_data(self):
        self.texts, self.labels = [], []
        reps = 3 if (self.augment and self.is_training) else 1
        for row in self.rows:
            for _ in range(reps):
                self.texts.append(self.templates.row_to_text(row, self.rng))
                self.labels.append(row["survived"])
        self.tokenized_cache = {}
        for idx, words in enumerate(self.texts):
            ids = [TOK[w] for w in words][: self.max_length]
            mask = [1] * len(ids) + [0] * (self.max_length - len(ids))
            ids = ids + [0] * (self.max_length - len(ids))
            self.tokenized_cache[idx] = {"input_ids": np.array(ids), "attention_mask": np.array(mask)}

    def _create_sample_generator(self) -> Iterator[Dict[str, np.ndarray]]:
        indices = list(range(len(self.texts)))
        if self.is_training:
            random.shuffle(indices)
        for idx in indices:
            tokens = self.tokenized_cache[idx]
            yield {"input_ids": tokens["input_ids"].astype(np.int32),
                   "attention_mask": tokens["attention_mask"].astype(np.int32),
                   "labels": np.array(self.labels[idx], dtype=np.int32)}

    def _create_stream(self):
        samples = list(self._create_sample_generator())

        def shuffled(src):
            buf = []
            for s in src:
                buf.append(s)
                if len(buf) >= self.cache_size:
                    yield buf.pop(random.randrange(len(buf)))
            random.shuffle(buf)
            yield from buf

        def batched(src):
            chunk = []
            for s in src:
                chunk.append(s)
                if len(chunk) == self.batch_size:
                    yield {k: np.stack([c[k] for c in chunk]) for k in chunk[0]}
                    chunk = []
            if chunk:
                yield {k: np.stack([c[k] for c in chunk]) for k in chunk[0]}

        def prefetched(src):
            q = queue.Queue(maxsize=self.prefetch_size)
            done = object()

            def worker():
                for item in src:
                    q.put(item)
                q.put(done)

            threading.Thread(target=worker, daemon=True).start()
            while True:
                item = q.get()
                if item is done:
                    return
                yield item

        stream = iter(samples)
        if self.is_training:
            stream = shuffled(stream)
        stream = batched(stream)
        stream = prefetched(stream)
        return stream

    def get_dataloader(self):
        def batch_iterator():
            for batch in self.stream:
                mlx_batch = {}
                for key in ["input_ids", "attention_mask", "labels"]:
                    if key in batch:
                        mlx_batch[key] = mx.array(batch[key])
                        if key == "labels" and len(mlx_batch[key].shape) > 1:
                            mlx_batch[key] = mlx_batch[key].reshape(-1)
                yield mlx_batch
        return batch_iterator

    def get_num_batches(self):
        return (len(self.texts) + self.batch_size - 1) // self.batch_size


class PooledClassifier(nn.Module):
    def __init__(self, vocab, dim=48, hidden=64):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.proj = nn.Linear(dim, dim)
        self.head = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, 2))

    def __call__(self, input_ids, attention_mask, labels=None):
        h = nn.gelu(self.proj(self.embed(input_ids)))
        m = attention_mask[..., None].astype(h.dtype)
        pooled = (h * m).sum(1) / mx.maximum(m.sum(1), 1.0)
        logits = self.head(pooled)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = nn.losses.cross_entropy(logits, labels, reduction="mean")
        return out


class ManifestTrainer:
    def __init__(self, model, train_loader, val_loader, lr=3e-3, eval_steps=10):
        self.model = model
        self.train_loader = train_loader
        self.val_loader = val_loader
        self.optimizer = optim.AdamW(learning_rate=lr, weight_decay=0.01)
        self.eval_steps = eval_steps
        self.global_step = 0
        self.best_val_loss = float("inf")
        self.best_val_accuracy = 0.0
        self.training_history = {"train_loss": [], "train_accuracy": []}
        self.best_state = None

        def loss_fn(model, batch):
            out = model(batch["input_ids"], batch["attention_mask"], batch["labels"])
            return out["loss"], out["logits"]
        self.loss_and_grad = nn.value_and_grad(self.model, loss_fn)

    def train_step(self, batch):
        (loss, logits), grads = self.loss_and_grad(self.model, batch)
        self.optimizer.update(self.model, grads)
        mx.eval(self.model.parameters(), self.optimizer.state, loss)
        acc = (mx.argmax(logits, axis=-1) == batch["labels"]).mean().item()
        return loss, {"loss": loss.item(), "accuracy": acc}

    def evaluate(self, dataloader, phase="val"):
        total_loss, num_batches = 0.0, 0
        preds, labels = [], []
        for batch in dataloader.get_dataloader()():
            out = self.model(batch["input_ids"], batch["attention_mask"], batch["labels"])
            total_loss += out["loss"].item()
            preds.extend(mx.argmax(out["logits"], axis=-1).tolist())
            labels.extend(batch["labels"].tolist())
            num_batches += 1
            if num_batches >= dataloader.get_num_batches():
                break
        metrics = {}
        if labels:
            acc = float(np.mean(np.array(preds) == np.array(labels)))
            metrics = {f"{phase}_loss": total_loss / num_batches, f"{phase}_accuracy": acc}
            print(f"  [{phase}] step {self.global_step:4d}  loss {metrics[f'{phase}_loss']:.4f}  "
                  f"acc {acc:.3f}  (majority baseline {max(np.mean(labels), 1 - np.mean(labels)):.3f})")
        return metrics

    def train(self, num_epochs):
        for epoch in range(num_epochs):
            epoch_metrics = {"loss": 0.0, "accuracy": 0.0}
            num_batches = 0
            for batch_idx, batch in enumerate(self.train_loader.get_dataloader()()):
                loss, metrics = self.train_step(batch)
                for key, value in metrics.items():
                    epoch_metrics[key] += value
                self.global_step += 1
                num_batches += 1

                if self.val_loader and self.global_step % self.eval_steps == 0:
                    val_metrics = self.evaluate(self.val_loader, phase="val")
                    if val_metrics['val_loss'] < self.best_val_loss:
                        self.best_val_loss = val_metrics['val_loss']
                        self.best_state = {"step": self.global_step}

                    if val_metrics['val_accuracy'] > self.best_val_accuracy:
                        self.best_val_accuracy = val_metrics['val_accuracy']

                if num_batches >= self.train_loader.get_num_batches():
                    break

            for key in epoch_metrics:
                epoch_metrics[key] /= num_batches
            self.training_history["train_loss"].append(epoch_metrics["loss"])
            self.training_history["train_accuracy"].append(epoch_metrics["accuracy"])
            print(f"epoch {epoch + 1}/{num_epochs}  batches {num_batches}  "
                  f"train_loss {epoch_metrics['loss']:.4f}  train_acc {epoch_metrics['accuracy']:.3f}")
        print(f"best val_loss {self.best_val_loss:.4f}  best val_acc {self.best_val_accuracy:.3f}")


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    train_rows = make_manifest(160, rng)
    val_rows = make_manifest(120, rng)
    train_loader = ManifestDataPipeline(train_rows, batch_size=32, is_training=True, augment=True)
    val_loader = ManifestDataPipeline(val_rows, batch_size=32, is_training=False, augment=False)
    print(f"train samples {len(train_loader.texts)}  batches/epoch {train_loader.get_num_batches()}  "
          f"val samples {len(val_loader.texts)}")
    model = PooledClassifier(len(VOCAB))
    trainer = ManifestTrainer(model, train_loader, val_loader, lr=3e-3, eval_steps=8)
    trainer.train(num_epochs=6)
