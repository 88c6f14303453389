"""Hand-rolled SGD+momentum trainer with a compiled parameter update and a
linear warmup -> constant learning-rate schedule kept on the trainer object.
"""
import logging

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("trainer")

mx.random.seed(7)
rng = np.random.default_rng(7)
N, D, C = 2048, 12, 3
W = rng.normal(size=(D, C)).astype(np.float32)
Xn = rng.normal(size=(N, D)).astype(np.float32)
Yn = np.argmax(Xn @ W + 0.3 * rng.normal(size=(N, C)), axis=1).astype(np.int32)
X, Y = mx.array(Xn), mx.array(Yn)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 64)
        self.l2 = nn.Linear(64, C)

    def __call__(self, x):
        return self.l2(nn.relu(self.l1(x)))


class Trainer:
    def __init__(self, model, base_lr=0.1, momentum=0.9, warmup=50):
        self.model = model
        self.base_lr = base_lr
        self.momentum = momentum
        self.warmup = warmup
        self.lr = 0.0
        self.step = 0
        self.velocity = tree_map(mx.zeros_like, model.trainable_parameters())
        self.loss_and_grad = nn.value_and_grad(model, self.loss_fn)
        self._apply = mx.compile(self._sgd_update)

    @staticmethod
    def loss_fn(model, x, y):
        return nn.losses.cross_entropy(model(x), y, reduction="mean")

    def _sgd_update(self, params, grads, velocity):
        new_v = tree_map(lambda v, g: self.momentum * v + g, velocity, grads)
        new_p = tree_map(lambda p, v: p - self.lr * v, params, new_v)
        return new_p, new_v

    def schedule(self):
        self.lr = self.base_lr * min(1.0, self.step / self.warmup)

    def train_step(self, x, y):
        self.schedule()
        loss, grads = self.loss_and_grad(self.model, x, y)
        params, self.velocity = self._apply(self.model.trainable_parameters(), grads, self.velocity)
        self.model.update(params)
        mx.eval(self.model.parameters(), self.velocity, loss)
        self.step += 1
        return loss.item()


trainer = Trainer(MLP())
for epoch in range(1, 21):
    perm = mx.array(rng.permutation(N))
    losses = []
    for i in range(0, N, 64):
        idx = perm[i:i + 64]
        losses.append(trainer.train_step(X[idx], Y[idx]))
    acc = mx.mean(trainer.model(X).argmax(-1) == Y).item()
    log.info("epoch %d step %d lr %.3f loss %.4f acc %.3f", epoch, trainer.step,
             trainer.lr, float(np.mean(losses)), acc)
