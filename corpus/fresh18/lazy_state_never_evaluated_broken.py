"""Fine-tune a small regression head on synthetic sensor features (Adam).

Progress is reported as a step counter; the loss curve is summarised at the end.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(0)
N_FEAT = 96
W_TRUE = rng.normal(size=(N_FEAT, 4)).astype(np.float32) / np.sqrt(N_FEAT)


def batches(batch_size=384):
    while True:
        x = rng.normal(size=(batch_size, N_FEAT)).astype(np.float32)
        y = np.tanh(x @ W_TRUE) + 0.05 * rng.normal(size=(batch_size, 4)).astype(np.float32)
        yield mx.array(x), mx.array(y)


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 64)
        self.l2 = nn.Linear(64, 4)

    def __call__(self, x):
        return self.l2(nn.gelu(self.l1(x)))


class Trainer:
    def __init__(self, model, lr=2e-3):
        self.model = model
        self.optimizer = optim.Adam(learning_rate=lr)
        self.loss_and_grad = nn.value_and_grad(model, self.loss_fn)
        self.history = []

    def loss_fn(self, model, x, y):
        return nn.losses.mse_loss(model(x), y)

    def train_step(self, x, y):
        loss, grads = self.loss_and_grad(self.model, x, y)
        self.optimizer.update(self.model, grads)
        self.history.append(loss)
        return loss


def main(total_steps=3000):
    mx.random.seed(0)
    trainer = Trainer(Head())
    data = batches()
    t0 = time.time()
    for step in range(1, total_steps + 1):
        x, y = next(data)
        trainer.train_step(x, y)
        if step % 250 == 0:
            print(f"[{step:5d}/{total_steps}] {time.time() - t0:6.1f}s elapsed", flush=True)
    losses = mx.stack(trainer.history)
    mx.eval(losses)
    first, last = losses[:100].mean().item(), losses[-100:].mean().item()
    print(f"done: mean mse first 100 steps {first:.4f}, last 100 steps {last:.4f}")


if __name__ == "__main__":
    main()
