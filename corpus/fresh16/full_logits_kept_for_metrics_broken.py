"""Small next-token model trained for one long pass over a synthetic token stream.

A Trainer class with a train_step method; token accuracy over the whole pass is
computed by a compute_metrics hook at the end (HF-style EvalPrediction).
Progress is written as JSON lines.
"""
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

mx.random.seed(3)
rng = np.random.default_rng(3)

VOCAB = 1024
SEQ = 32
BATCH = 8
STEPS = 240

# synthetic "language": next token is a fixed permutation of the current one, 80% of the time
perm = rng.permutation(VOCAB)


def sample_batch():
    x = np.empty((BATCH, SEQ + 1), dtype=np.int32)
    x[:, 0] = rng.integers(0, VOCAB, BATCH)
    for t in range(1, SEQ + 1):
        follow = rng.random(BATCH) < 0.8
        x[:, t] = np.where(follow, perm[x[:, t - 1]], rng.integers(0, VOCAB, BATCH))
    return mx.array(x[:, :-1]), mx.array(x[:, 1:])


class NextToken(nn.Module):
    def __init__(self, dims=64):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, dims)
        self.mlp = nn.Sequential(nn.Linear(dims, dims), nn.GELU())
        self.head = nn.Linear(dims, VOCAB)

    def __call__(self, x):
        return self.head(self.mlp(self.emb(x)))


def compute_metrics(predictions, labels):
    preds = np.concatenate([np.array(p).argmax(-1) for p in predictions])
    labs = np.concatenate([np.array(l) for l in labels])
    return {"token_acc": float((preds == labs).mean())}


class Trainer:
    def __init__(self, model):
        self.model = model
        self.opt = optim.Lion(learning_rate=1e-3, weight_decay=0.0)
        self.grad_fn = nn.value_and_grad(model, self.loss_fn)
        self.all_preds = []
        self.all_labels = []

    def loss_fn(self, model, x, y):
        logits = model(x)
        return nn.losses.cross_entropy(logits, y, reduction="mean"), logits

    def train_step(self, x, y):
        (loss, logits), grads = self.grad_fn(self.model, x, y)
        self.opt.update(self.model, grads)
        mx.eval(self.model.parameters(), self.opt.state, loss, logits)
        # keep what compute_metrics needs
        self.all_preds.append(logits)
        self.all_labels.append(y)
        return loss.item()

    def fit(self, steps):
        t0 = time.time()
        for step in range(1, steps + 1):
            x, y = sample_batch()
            loss = self.train_step(x, y)
            if step % 10 == 0:
                print(json.dumps({"step": step, "ce": round(loss, 4),
                                  "sec": round(time.time() - t0, 2)}), flush=True)
        metrics = compute_metrics(self.all_preds, self.all_labels)
        print(json.dumps({"final": metrics}), flush=True)


model = NextToken()
mx.eval(model.parameters())
Trainer(model).fit(STEPS)
