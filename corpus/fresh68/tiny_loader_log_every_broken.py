"""Small image-classification fine-tune with a reusable Trainer class.

Synthetic 12x12 "shapes" images (horizontal bar, vertical bar, cross, box),
a tiny conv net, SGD + cosine decay, progress logged every `log_every`
fraction of an epoch.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(0)
N_CLASSES = 4


def make_images(n):
    X = np.zeros((n, 12, 12, 1), np.float32)
    y = rng.integers(0, N_CLASSES, n)
    for i, c in enumerate(y):
        r, q = rng.integers(3, 9, 2)
        if c in (0, 2):
            X[i, r, 1:11, 0] = 1.0
        if c in (1, 2):
            X[i, 1:11, q, 0] = 1.0
        if c == 3:
            X[i, r - 2, q - 2:q + 3, 0] = X[i, r + 2, q - 2:q + 3, 0] = 1.0
            X[i, r - 2:r + 3, q - 2, 0] = X[i, r - 2:r + 3, q + 2, 0] = 1.0
    X += rng.normal(0, 0.6, X.shape).astype(np.float32)
    return X, y.astype(np.int32)


class DataLoader:
    def __init__(self, X, y, batch_size, shuffle=True):
        self.X, self.y, self.bs, self.shuffle = X, y, batch_size, shuffle

    def __len__(self):
        return (len(self.X) + self.bs - 1) // self.bs

    def __iter__(self):
        idx = rng.permutation(len(self.X)) if self.shuffle else np.arange(len(self.X))
        for i in range(0, len(idx), self.bs):
            j = idx[i:i + self.bs]
            yield mx.array(self.X[j]), mx.array(self.y[j])


class ShapeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 32, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Linear(32, N_CLASSES)

    def __call__(self, x):
        x = self.pool(nn.relu(self.c1(x)))
        x = nn.relu(self.c2(x))
        return self.head(x.max(axis=(1, 2)))


class Trainer:
    def __init__(self, model, optimizer, loss_fn, train_loader, val_loader,
                 log_every=0.05, max_epochs=10):
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.train_loader = train_loader
        self.val_loader = val_loader
        self.log_every = int(log_every * len(self.train_loader))
        self.max_epochs = max_epochs
        self.state = [self.model.state, self.optimizer.state]

    def _train_step(self, x, target):
        return mx.mean(self.loss_fn(self.model(x), target))

    def train_epoch(self):
        self.model.train()
        epoch_loss, throughput = [], []
        for batch_idx, (x, target) in enumerate(self.train_loader):
            tic = time.perf_counter()
            loss, grads = nn.value_and_grad(self.model, self._train_step)(x, target)
            self.optimizer.update(self.model, grads)
            mx.eval(self.state)
            toc = time.perf_counter()
            epoch_loss.append(loss.item())
            throughput.append(x.shape[0] / (toc - tic))
            if batch_idx % self.log_every == 0:
                print(f"> iter=[{batch_idx}/{len(self.train_loader)}] | "
                      f"train_loss={np.mean(epoch_loss):.3f} | "
                      f"train_throughput={np.mean(throughput):.0f} images/second | "
                      f"lr={self.optimizer.learning_rate.item():.5f}")
        return float(np.mean(epoch_loss))

    def val_epoch(self):
        self.model.eval()
        losses, correct, n = [], 0, 0
        for x, target in self.val_loader:
            logits = self.model(x)
            losses.append(mx.mean(self.loss_fn(logits, target)).item())
            correct += (mx.argmax(logits, axis=-1) == target).sum().item()
            n += x.shape[0]
        return float(np.mean(losses)), correct / n

    def train(self):
        for epoch in range(1, self.max_epochs + 1):
            tic = time.perf_counter()
            train_loss = self.train_epoch()
            val_loss, val_acc = self.val_epoch()
            print(f"##### epoch {epoch}/{self.max_epochs} | epoch_time={time.perf_counter() - tic:.2f}s "
                  f"| train_loss={train_loss:.3f} | val_loss={val_loss:.3f} | val_acc@1={val_acc:.3f}")


if __name__ == "__main__":
    mx.random.seed(0)
    Xtr, ytr = make_images(480)   # a small dataset: 15 batches of 32
    Xva, yva = make_images(160)
    train_loader = DataLoader(Xtr, ytr, batch_size=32)
    val_loader = DataLoader(Xva, yva, batch_size=64, shuffle=False)
    max_epochs = 40
    model = ShapeNet()
    lr_schedule = optim.cosine_decay(init=0.1, decay_steps=len(train_loader) * max_epochs)
    optimizer = optim.SGD(learning_rate=lr_schedule, momentum=0.9)
    trainer = Trainer(model, optimizer, nn.losses.cross_entropy, train_loader, val_loader,
                      log_every=0.05, max_epochs=max_epochs)
    trainer.train()
