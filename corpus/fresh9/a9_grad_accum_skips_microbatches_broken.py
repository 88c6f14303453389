"""Sensor calibration model trained with gradient accumulation: the hardware
only lets us stream 2 samples at a time, so we accumulate 16 micro-batches
into one update (effective batch 32) and use a learning rate tuned for that
effective batch."""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

rng = np.random.default_rng(7)
D = 32
w_star = rng.normal(size=(D, 1)).astype(np.float32) / np.sqrt(D)
X = rng.normal(size=(4096, D)).astype(np.float32)
Y = X @ w_star + 0.05 * rng.normal(size=(4096, 1)).astype(np.float32)


class Trainer:
    def __init__(self, micro_bs=2, accum_steps=16, lr=0.2):
        self.model = nn.Linear(D, 1)
        self.opt = optim.SGD(learning_rate=lr)
        self.micro_bs = micro_bs
        self.accum_steps = accum_steps
        self.loss_and_grad = nn.value_and_grad(self.model, self.loss_fn)
        self.accum = None

    @staticmethod
    def loss_fn(model, x, y):
        return nn.losses.mse_loss(model(x), y)

    def train_step(self, micro_step, x, y):
        loss, grads = self.loss_and_grad(self.model, x, y)
        mx.eval(loss, grads)
        if (micro_step + 1) % self.accum_steps == 0:
            self.opt.update(self.model, grads)
            mx.eval(self.model.parameters(), self.opt.state)
            return loss, True
        return loss, False

    def full_loss(self):
        return self.loss_fn(self.model, mx.array(X), mx.array(Y)).item()


trainer = Trainer()
updates = 0
micro_step = 0
for epoch in range(3):
    perm = rng.permutation(len(X))
    for i in range(0, len(X), trainer.micro_bs):
        idx = perm[i:i + trainer.micro_bs]
        loss, stepped = trainer.train_step(micro_step, mx.array(X[idx]), mx.array(Y[idx]))
        micro_step += 1
        if stepped:
            updates += 1
            if updates == 1 or updates % 32 == 0:
                print(f"epoch {epoch} update {updates:4d} | micro_loss {loss.item():.4g} | full_mse {trainer.full_loss():.4g}")
print("final full-data mse:", trainer.full_loss())
