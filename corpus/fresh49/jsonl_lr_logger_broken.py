"""Tiny review-polarity classifier (bag of embeddings) with a callback-style
trainer that appends metrics to a JSON-lines file."""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB, SEQ, N_TRAIN, N_VAL = 400, 48, 8192, 1024
rng = np.random.default_rng(7)
# tokens 0..15 lean positive, 16..31 lean negative, the rest are neutral
pos_words, neg_words = np.arange(0, 40), np.arange(40, 80)


def make_split(n):
    y = rng.integers(0, 2, size=n)
    x = rng.integers(80, VOCAB, size=(n, SEQ))
    for i in range(n):
        k = rng.integers(1, 3)
        slots = rng.choice(SEQ, size=k, replace=False)
        bank = pos_words if y[i] == 1 else neg_words
        x[i, slots] = rng.choice(bank, size=k)
    flip = rng.random(n) < 0.08
    y = np.where(flip, 1 - y, y)
    return mx.array(x.astype(np.int32)), mx.array(y.astype(np.int32))


x_train, y_train = make_split(N_TRAIN)
x_val, y_val = make_split(N_VAL)


class BagClassifier(nn.Module):
    def __init__(self, vocab, dim=128, hidden=256):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.out = nn.Linear(hidden, 2)

    def __call__(self, x):
        h = self.embed(x).mean(axis=1)
        return self.out(nn.gelu(self.fc1(h)))


class TrainState:
    def __init__(self):
        self.global_step = 0
        self.epoch = 0


class MetricsLogger:
    """Writes one JSON object per logging step."""

    def __init__(self, path, every=250):
        self.path = path
        self.every = every
        self.last_batch_time = None

    def on_batch_end(self, trainer, state, loss):
        now = time.perf_counter()
        batch_time = now - self.last_batch_time if self.last_batch_time else 0
        self.last_batch_time = now
        if state.global_step % self.every:
            return
        record = {
            "step": state.global_step,
            "epoch": state.epoch,
            "loss": loss,
            "learning_rate": trainer.optimizer.learning_rate,
            "batch_time": batch_time if self.last_batch_time else 0,
        }
        line = json.dumps(record)
        with open(self.path, "a") as f:
            f.write(line + "\n")
        print(line)


class Trainer:
    def __init__(self, model, optimizer, callbacks):
        self.model = model
        self.optimizer = optimizer
        self.callbacks = callbacks
        self.state = TrainState()

        def loss_fn(model, x, y):
            return nn.losses.cross_entropy(model(x), y, reduction="mean")

        self.loss_and_grad = nn.value_and_grad(model, loss_fn)

    def evaluate(self):
        logits = self.model(x_val)
        return (mx.argmax(logits, axis=1) == y_val).mean().item()

    def fit(self, epochs, batch_size=64):
        for epoch in range(epochs):
            self.state.epoch = epoch
            perm = mx.array(rng.permutation(N_TRAIN))
            for s in range(0, N_TRAIN, batch_size):
                idx = perm[s:s + batch_size]
                loss, grads = self.loss_and_grad(self.model, x_train[idx], y_train[idx])
                self.optimizer.update(self.model, grads)
                mx.eval(loss, self.model.parameters(), self.optimizer.state)
                self.state.global_step += 1
                for cb in self.callbacks:
                    cb.on_batch_end(self, self.state, loss.item())
            print(f"epoch {epoch}: val_acc={self.evaluate():.3f}")


def main():
    mx.random.seed(0)
    workdir = tempfile.mkdtemp(prefix="bagclf_")
    model = BagClassifier(VOCAB)
    mx.eval(model.parameters())
    schedule = optim.join_schedules(
        [optim.linear_schedule(1e-5, 1e-3, 100), optim.cosine_decay(1e-3, 1436)], [100]
    )
    trainer = Trainer(model, optim.AdamW(learning_rate=schedule, weight_decay=0.01),
                      [MetricsLogger(os.path.join(workdir, "metrics.jsonl"))])
    print(f"start val_acc={trainer.evaluate():.3f}")
    trainer.fit(epochs=12)
    n = sum(1 for _ in open(os.path.join(workdir, "metrics.jsonl")))
    print(f"done: {n} metric records written to {workdir}")


if __name__ == "__main__":
    main()
