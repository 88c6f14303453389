"""Sentence-pair classifier trained from a background prefetching loader.

The loader thread tokenizes / collates the next batches while the main thread
trains, so the model never waits on data.
"""
import logging
import queue
import random
import threading

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("train")

VOCAB, SEQ, DIM, CLASSES = 64, 16, 32, 2
random.seed(0)


def fake_pair():
    a = [random.randrange(1, VOCAB) for _ in range(SEQ)]
    if random.random() < 0.5:
        b = a[:]  # paraphrase: same tokens shuffled
        random.shuffle(b)
        return a, b, 1
    return a, [random.randrange(1, VOCAB) for _ in range(SEQ)], 0


class PrefetchLoader:
    def __init__(self, n_batches, batch_size=32, prefetch=4):
        self.n_batches = n_batches
        self.batch_size = batch_size
        self.q = queue.Queue(maxsize=prefetch)

    def _collate(self, rows):
        a = mx.array([r[0] for r in rows])
        b = mx.array([r[1] for r in rows])
        y = mx.array([r[2] for r in rows])
        # bag-of-token counts for each side, computed with MLX ops
        ca = mx.sum(a[..., None] == mx.arange(VOCAB), axis=1)
        cb = mx.sum(b[..., None] == mx.arange(VOCAB), axis=1)
        feats = mx.concatenate([ca, cb, mx.abs(ca - cb)], axis=1).astype(mx.float32) / SEQ
        return {"features": feats, "labels": y}

    def _worker(self):
        for _ in range(self.n_batches):
            rows = [fake_pair() for _ in range(self.batch_size)]
            batch = self._collate(rows)
            mx.eval(batch)  # materialise on this thread before handing over
            self.q.put(batch)
        self.q.put(None)

    def __iter__(self):
        threading.Thread(target=self._worker, daemon=True).start()
        while True:
            batch = self.q.get()
            if batch is None:
                return
            yield batch


class PairClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(3 * VOCAB, DIM)
        self.l2 = nn.Linear(DIM, CLASSES)

    def __call__(self, x):
        return self.l2(nn.relu(self.l1(x)))


class Trainer:
    def __init__(self, model):
        self.model = model
        self.opt = optim.Adam(learning_rate=1e-3)
        self.vg = nn.value_and_grad(model, self.loss_fn)

    def loss_fn(self, model, x, y):
        return nn.losses.cross_entropy(model(x), y, reduction="mean")

    def train_step(self, batch):
        loss, grads = self.vg(self.model, batch["features"], batch["labels"])
        self.opt.update(self.model, grads)
        mx.eval(self.model.parameters(), self.opt.state)
        return loss.item()

    def fit(self, epochs, batches_per_epoch):
        for epoch in range(epochs):
            losses = []
            for batch in PrefetchLoader(batches_per_epoch):
                losses.append(self.train_step(batch))
            log.info("epoch %d loss %.4f", epoch, sum(losses) / len(losses))


model = PairClassifier()
mx.eval(model.parameters())
log.info("starting training")
Trainer(model).fit(epochs=8, batches_per_epoch=40)
log.info("done")
