# Binary classifier trainer with a linear-decay LR scheduler and a callback system.
import logging, math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
log = logging.getLogger("trainer")

rng = np.random.default_rng(3)
N, F = 4000, 20
X = rng.normal(size=(N, F)).astype(np.float32)
w_true = rng.normal(size=F).astype(np.float32)
logit = X @ w_true * 0.15 + 2.0 * np.sin(2.0 * X[:, 0]) * X[:, 1] - 1.2 * X[:, 2] * X[:, 3] + 0.8 * np.cos(1.5 * X[:, 4])
y = (logit + rng.logistic(size=N) * 0.3 > 0).astype(np.int32)
Xtr, ytr = mx.array(X[:3200]), mx.array(y[:3200])
Xva, yva = mx.array(X[3200:]), mx.array(y[3200:])


class LinearScheduler:
    def __init__(self, optimizer, base_lr, num_training_steps, warmup_steps=0):
        self.optimizer, self.base_lr = optimizer, base_lr
        self.num_training_steps, self.warmup_steps = num_training_steps, warmup_steps
        self.current_step = 0

    def step(self):
        self.current_step += 1
        if self.current_step <= self.warmup_steps:
            lr = self.base_lr * self.current_step / self.warmup_steps
        else:
            remaining = self.num_training_steps - self.warmup_steps
            lr = self.base_lr * max(0.0, 1.0 - (self.current_step - self.warmup_steps) / remaining)
        self.optimizer.learning_rate = lr
        return lr


class LRMonitor:
    """Callback: keeps the LR schedule in sync after every batch and logs it."""
    def __init__(self, scheduler):
        self.scheduler = scheduler
        self.last_lr = None

    def on_batch_end(self, trainer, step):
        current_lr = self.scheduler.optimizer.learning_rate.item()
        if self.last_lr is None or step % 250 == 0:
            log.debug("lr %.2e at step %d", current_lr, step)
        self.last_lr = current_lr


class Trainer:
    def __init__(self, model, base_lr, epochs, batch_size):
        self.model = model
        self.optimizer = optim.AdamW(learning_rate=base_lr, weight_decay=0.01)
        self.epochs, self.batch_size = epochs, batch_size
        total = epochs * math.ceil(len(ytr) / batch_size)
        self.lr_scheduler = LinearScheduler(self.optimizer, base_lr, total, warmup_steps=total // 20)
        self.callbacks = [LRMonitor(self.lr_scheduler)]
        self.loss_and_grad = nn.value_and_grad(model, self.loss_fn)

    def loss_fn(self, model, x, t):
        return nn.losses.cross_entropy(model(x), t, reduction="mean")

    def train_step(self, x, t):
        loss, grads = self.loss_and_grad(self.model, x, t)
        self.optimizer.update(self.model, grads)
        current_lr = self.lr_scheduler.step()
        mx.eval(self.model.parameters(), self.optimizer.state, loss)
        return loss.item(), current_lr

    def evaluate(self):
        logits = self.model(Xva)
        return (nn.losses.cross_entropy(logits, yva, reduction="mean").item(),
                (mx.argmax(logits, axis=1) == yva).mean().item())

    def fit(self):
        step = 0
        for epoch in range(1, self.epochs + 1):
            perm = mx.array(rng.permutation(len(ytr)))
            losses = []
            for i in range(0, len(ytr), self.batch_size):
                idx = perm[i:i + self.batch_size]
                loss, lr = self.train_step(Xtr[idx], ytr[idx])
                step += 1
                losses.append(loss)
                for cb in self.callbacks:
                    cb.on_batch_end(self, step)
            vl, va = self.evaluate()
            log.info("epoch %2d step %4d lr %.2e train_loss %.4f val_loss %.4f val_acc %.3f",
                     epoch, step, self.optimizer.learning_rate.item(), float(np.mean(losses)), vl, va)


model = nn.Sequential(nn.Linear(F, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 2))
mx.eval(model.parameters())
t0 = time.time()
Trainer(model, base_lr=1e-3, epochs=24, batch_size=64).fit()
log.info("finished in %.1fs", time.time() - t0)
