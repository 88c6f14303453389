"""Tiny image classifier trained with a small reusable Trainer class
(model, optimizer, loss_fn, loaders, optional extra kwargs for the loss).
Data: synthetic 12x12 grey glyphs of four shapes (bar, ring, cross, dot)
with random position, thickness and noise."""
import time
from typing import Callable, Dict, Optional, Tuple

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SIZE = 12
CLASSES = ["bar", "ring", "cross", "dot"]


def draw(kind, rng):
    img = np.zeros((SIZE, SIZE), np.float32)
    cy, cx = rng.integers(4, SIZE - 4, 2)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    r = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
    if kind == 0:
        if rng.random() < 0.5:
            img[cy - 1:cy + 1, 1:SIZE - 1] = 1.0
        else:
            img[1:SIZE - 1, cx - 1:cx + 1] = 1.0
    elif kind == 1:
        img[(r > 2.2) & (r < 3.6)] = 1.0
    elif kind == 2:
        img[cy, cx - 3:cx + 4] = 1.0
        img[cy - 3:cy + 4, cx] = 1.0
    else:
        img[r < 1.8] = 1.0
    img *= rng.uniform(0.6, 1.0)
    img += rng.normal(0.0, 0.25, img.shape)
    return img


def make_set(n, rng):
    y = rng.integers(0, len(CLASSES), n)
    x = np.stack([draw(k, rng) for k in y])[..., None]     # NHWC
    return x.astype(np.float32), y.astype(np.int32)


class Loader:
    def __init__(self, x, y, batch_size, shuffle, seed=0):
        self.x, self.y, self.bs, self.shuffle = x, y, batch_size, shuffle
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return (len(self.y) + self.bs - 1) // self.bs

    def __iter__(self):
        idx = self.rng.permutation(len(self.y)) if self.shuffle else np.arange(len(self.y))
        for s in range(0, len(idx), self.bs):
            j = idx[s:s + self.bs]
            yield mx.array(self.x[j]), mx.array(self.y[j])


class GlyphNet(nn.Module):
    def __init__(self, n_classes):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 16, 3, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc = nn.Linear(16 * 3 * 3, n_classes)

    def __call__(self, x):
        x = self.pool(nn.relu(self.c1(x)))
        x = self.pool(nn.relu(self.c2(x)))
        return self.fc(x.reshape(x.shape[0], -1))


class Trainer:
    def __init__(
        self,
        model: nn.Module,
        optimizer: optim.Optimizer,
        loss_fn: Callable,
        train_loader: Loader,
        loss_fn_args: Optional[dict] = None,
        val_loader: Optional[Loader] = None,
        max_epochs: int = 5,
        log_every: float = 0.25,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.loss_fn_args = loss_fn_args
        self.train_loader = train_loader
        self.val_loader = val_loader
        self.max_epochs = max_epochs
        self.log_every = max(1, int(log_every * len(train_loader)))
        self.state = [self.model.state, self.optimizer.state]

    def _loss(self, x: mx.array, target: mx.array) -> mx.array:
        logits = self.model(x)
        loss = mx.mean(self.loss_fn(logits, target, **(self.loss_fn_args or {})))
        return loss

    def train_epoch(self) -> float:
        self.model.train()
        losses = []
        step_fn = nn.value_and_grad(self.model, self._loss)
        for batch_idx, (x, target) in enumerate(self.train_loader):
            loss, grads = step_fn(x, target)
            self.optimizer.update(self.model, grads)
            mx.eval(self.state, loss)
            losses.append(loss.item())
            if batch_idx % self.log_every == 0:
                print(" | ".join([f"> iter=[{batch_idx}/{len(self.train_loader)}]",
                                  f"train_loss={np.mean(losses):.3f}",
                                  f"lr={self.optimizer.learning_rate.item():.5f}"]))
        return float(np.mean(losses))

    def val_epoch(self) -> Tuple[float, float]:
        self.model.eval()
        losses, correct, seen = [], 0, 0
        for x, target in self.val_loader:
            logits = self.model(x)
            losses.append(self._loss(x, target).item())
            correct += int(mx.sum(mx.argmax(logits, axis=1) == target).item())
            seen += target.shape[0]
        return float(np.mean(losses)), correct / seen

    def train(self) -> Dict:
        hist = {}
        for epoch in range(self.max_epochs):
            tic = time.perf_counter()
            tr = self.train_epoch()
            vl, va = self.val_epoch()
            print(f"> epoch={epoch} | train_loss={tr:.3f} | val_loss={vl:.3f} | "
                  f"val_acc@1={va:.3f} | {time.perf_counter() - tic:.1f}s")
            hist[epoch] = (tr, vl, va)
        return hist


if __name__ == "__main__":
    rng = np.random.default_rng(42)
    mx.random.seed(42)
    xtr, ytr = make_set(4000, rng)
    xva, yva = make_set(600, rng)
    train_loader = Loader(xtr, ytr, batch_size=32, shuffle=True)
    val_loader = Loader(xva, yva, batch_size=200, shuffle=False)
    model = GlyphNet(len(CLASSES))
    mx.eval(model.parameters())
    max_epochs = 8
    lr_schedule = optim.cosine_decay(init=0.05, decay_steps=len(train_loader) * max_epochs)
    optimizer = optim.SGD(learning_rate=lr_schedule, momentum=0.9)
    trainer = Trainer(
        model=model,
        optimizer=optimizer,
        loss_fn=nn.losses.cross_entropy,
        train_loader=train_loader,
        val_loader=val_loader,
        max_epochs=max_epochs,
    )
    hist = trainer.train()
    print(f"done: final val_acc@1={hist[max_epochs - 1][2]:.3f} (chance {1 / len(CLASSES):.2f})")
