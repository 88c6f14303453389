"""Set-prediction toy (DETR-like box regression) with an engine-style Trainer class."""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class BoxHead(nn.Module):
    def __init__(self, d=64, queries=8):
        super().__init__()
        self.enc = nn.Linear(16, d)
        self.query = nn.Linear(d, d * queries)
        self.box = nn.Linear(d, 4)
        self.q, self.d = queries, d

    def __call__(self, x):
        h = nn.gelu(self.enc(x))
        q = self.query(h).reshape(x.shape[0], self.q, self.d)
        return mx.sigmoid(self.box(nn.gelu(q)))


class Trainer:
    def __init__(self, model, lr=1e-3):
        self.model = model
        self.opt = optim.AdamW(learning_rate=lr)
        self.grad_fn = nn.value_and_grad(model, self.criterion)

    def criterion(self, model, x, boxes):
        return mx.abs(model(x) - boxes).mean()

    def train_one_epoch(self, batches, epoch):
        t0, total = time.time(), 0.0
        for x, boxes in batches:
            loss, grads = self.grad_fn(self.model, x, boxes)
            self.opt.update(self.model, grads)
            total = total + loss
        n = len(batches)
        print(f"Epoch: [{epoch}] [{n}/{n}] l1_loss: {float(total) / n:.4f} "
              f"time: {time.time() - t0:.1f}s", flush=True)


mx.random.seed(0)
data = []
for _ in range(1000):
    x = mx.random.normal((16, 16))
    data.append((x, mx.sigmoid(mx.repeat(x[:, None, :4], 8, axis=1))))
mx.eval(data)
trainer = Trainer(BoxHead())
for epoch in range(3):
    trainer.train_one_epoch(data, epoch)
