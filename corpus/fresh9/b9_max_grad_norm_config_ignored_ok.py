"""Small trainer with a dataclass config (SGD, grad-norm clipping) on a regression task.

The logged features come from several sensors; a few rows were recorded with a
sensor in the wrong unit, so now and then a batch carries much larger inputs.
"""
import logging
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("trainer")


@dataclass
class TrainingConfig:
    lr: float = 0.05
    momentum: float = 0.9
    max_grad_norm: float = 1.0
    batch_size: int = 32
    steps: int = 400
    log_every: int = 10


class Trainer:
    def __init__(self, model, cfg: TrainingConfig):
        self.model = model
        self.cfg = cfg
        self.opt = optim.SGD(learning_rate=cfg.lr, momentum=cfg.momentum)
        self.loss_and_grad = nn.value_and_grad(model, self.loss_fn)

    def loss_fn(self, model, x, y):
        return nn.losses.mse_loss(model(x), y)

    def train_step(self, x, y):
        loss, grads = self.loss_and_grad(self.model, x, y)
        grads, _ = optim.clip_grad_norm(grads, self.cfg.max_grad_norm)
        self.opt.update(self.model, grads)
        mx.eval(self.model.parameters(), self.opt.state, loss)
        return loss.item()

    def train(self, X, Y):
        n = X.shape[0]
        running = []
        for step in range(1, self.cfg.steps + 1):
            idx = mx.random.randint(0, n, (self.cfg.batch_size,))
            running.append(self.train_step(X[idx], Y[idx]))
            if step % self.cfg.log_every == 0:
                log.info("step %d | loss %.4g | lr %.3g", step, sum(running) / len(running), self.cfg.lr)
                running = []


mx.random.seed(2)
N, D = 4000, 10
X = mx.random.normal((N, D))
w_true = mx.random.normal((D, 1)) * 0.5
Y = X @ w_true + 0.3 * mx.sin(3 * X[:, :1]) + 0.05 * mx.random.normal((N, 1))
# ~0.2% of rows: one sensor logged in the wrong unit (x60)
wrong_unit = (mx.random.uniform(shape=(N, 1)) < 0.002) & (mx.arange(D)[None, :] == 2)
X = mx.where(wrong_unit, X * 60.0, X)
mx.eval(X, Y)

model = nn.Sequential(nn.Linear(D, 32), nn.ReLU(), nn.Linear(32, 1))
mx.eval(model.parameters())
trainer = Trainer(model, TrainingConfig())
trainer.train(X, Y)
final = nn.losses.mse_loss(model(X), Y).item()
log.info("final full-data mse %.4g", final)
