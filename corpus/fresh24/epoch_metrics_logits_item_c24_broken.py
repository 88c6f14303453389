"""Tiny intent classifier trained with a small Trainer class.

Mini transformer-encoder over synthetic token sequences; the train step
returns (loss, metrics) and the epoch loop accumulates the metrics.
"""
import logging
import math
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
logger = logging.getLogger("trainer")

VOCAB, SEQ, NCLS = 64, 16, 4
random.seed(0)
mx.random.seed(0)


def make_split(n):
    # class k is signalled by a few "keyword" tokens from its own range
    xs, ys = [], []
    for _ in range(n):
        c = random.randrange(NCLS)
        toks = [random.randrange(8, VOCAB) for _ in range(SEQ)]
        toks[random.randrange(SEQ)] = 1 + 2 * c + random.randrange(2)  # keywords 1..8
        if random.random() < 0.1:  # ~10% noisy labels
            c = random.randrange(NCLS)
        xs.append(toks)
        ys.append(c)
    return mx.array(xs), mx.array(ys)


class Encoder(nn.Module):
    def __init__(self, dims=32, heads=4, layers=2):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, dims)
        self.pos = nn.Embedding(SEQ, dims)
        self.enc = nn.TransformerEncoder(layers, dims, heads, mlp_dims=64)
        self.head = nn.Linear(dims, NCLS)

    def __call__(self, x):
        h = self.tok(x) + self.pos(mx.arange(x.shape[1]))
        h = self.enc(h, None)
        return self.head(h.mean(axis=1))


class Trainer:
    def __init__(self, model, lr=3e-3, batch_size=32, epochs=6, logging_steps=10):
        self.model = model
        self.sched = optim.cosine_decay(lr, 400)
        self.opt = optim.AdamW(learning_rate=self.sched, weight_decay=0.01)
        self.bs = batch_size
        self.epochs = epochs
        self.logging_steps = logging_steps
        self.global_step = 0
        self.loss_and_grad = nn.value_and_grad(model, self._loss)

    def _loss(self, model, x, y):
        logits = model(x)
        return nn.losses.cross_entropy(logits, y, reduction="mean"), logits

    def _train_step(self, x, y):
        (loss, logits), grads = self.loss_and_grad(self.model, x, y)
        grads, grad_norm = optim.clip_grad_norm(grads, 1.0)
        self.opt.update(self.model, grads)
        mx.eval(self.model.parameters(), self.opt.state, loss, logits)
        acc = (logits.argmax(axis=-1) == y).astype(mx.float32).mean()
        metrics = {
            "grad_norm": grad_norm,
            "learning_rate": self.opt.learning_rate,
            "accuracy": acc,
            "logits": logits,  # kept for the confusion-matrix hook
        }
        return loss, metrics

    def _batches(self, X, Y):
        idx = list(range(X.shape[0]))
        random.shuffle(idx)
        for i in range(0, len(idx) - self.bs + 1, self.bs):
            b = mx.array(idx[i:i + self.bs])
            yield X[b], Y[b]

    def _train_epoch(self, X, Y, epoch):
        epoch_loss = 0.0
        epoch_metrics = {}
        num_batches = 0
        for x, y in self._batches(X, Y):
            self.global_step += 1
            loss, metrics = self._train_step(x, y)
            loss_value = float(loss.item())
            epoch_loss += loss_value
            for k, v in metrics.items():
                if k not in epoch_metrics:
                    epoch_metrics[k] = 0.0
                # Convert MLX arrays to floats for accumulation
                if hasattr(v, "item"):
                    epoch_metrics[k] += float(v.item())
                else:
                    epoch_metrics[k] += float(v)
            num_batches += 1
            if self.global_step % self.logging_steps == 0:
                logger.info("Step %d - Loss: %.4f, LR: %.2e", self.global_step, loss_value,
                            float(metrics["learning_rate"].item()))
        out = {k: v / num_batches for k, v in epoch_metrics.items()}
        out["loss"] = epoch_loss / num_batches
        return out

    def evaluate(self, X, Y):
        logits = self.model(X)
        loss = nn.losses.cross_entropy(logits, Y, reduction="mean")
        acc = (logits.argmax(axis=-1) == Y).astype(mx.float32).mean()
        return float(loss.item()), float(acc.item())

    def train(self, Xtr, Ytr, Xva, Yva):
        t0 = time.time()
        for epoch in range(1, self.epochs + 1):
            m = self._train_epoch(Xtr, Ytr, epoch)
            vl, va = self.evaluate(Xva, Yva)
            logger.info("Epoch %d done: train_loss=%.4f train_acc=%.3f val_loss=%.4f val_acc=%.3f (%.1fs)",
                        epoch, m["loss"], m["accuracy"], vl, va, time.time() - t0)


def main():
    Xtr, Ytr = make_split(1536)
    Xva, Yva = make_split(256)
    model = Encoder()
    mx.eval(model.parameters())
    n = sum(v.size for _, v in tree_flatten(model.parameters()))
    logger.info("model params: %d, chance loss %.3f", n, math.log(NCLS))
    Trainer(model).train(Xtr, Ytr, Xva, Yva)


if __name__ == "__main__":
    main()
