# Deep residual MLP ("runner") on synthetic 12-class blobs, dropout in every block,
# compiled train step, periodic evaluation on a held-out split.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

SEED = 7
NUM_CLASSES = 12
DIM = 24
N_TRAIN, N_TEST = 2048, 1024
STEPS = 300
BATCH = 64
EVAL_EVERY = 100


def make_data(rng):
    centers = rng.normal(0, 1.0, size=(NUM_CLASSES, DIM)).astype(np.float32) * 0.55
    def draw(n):
        y = rng.integers(0, NUM_CLASSES, size=n)
        x = centers[y] + rng.normal(0, 1.0, size=(n, DIM)).astype(np.float32)
        return x.astype(np.float32), y.astype(np.int32)
    return draw(N_TRAIN), draw(N_TEST)


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, width)
        self.dropout = nn.Dropout(0.5)
        self.fc2 = nn.Linear(width, width)

    def __call__(self, x):
        y = nn.relu(self.fc1(self.norm(x)))
        y = self.dropout(y)
        return self.fc2(y)


class DeepRunner(nn.Module):
    def __init__(self, num_layers=8, width=48):
        super().__init__()
        self.stem = nn.Linear(DIM, width)
        self.blocks = [Block(width) for _ in range(num_layers)]
        self.head = nn.Linear(width, NUM_CLASSES)
        self.scale = 2.0 / math.sqrt(num_layers)

    def __call__(self, x):
        h = self.stem(x)
        for blk in self.blocks:
            h = h + self.scale * blk(h)
        return self.head(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, x_all, y_all, batch_size=256):
    prev_mode = getattr(model, "training", True)
    model.train(False)

    losses, accs = [], []
    for s in range(0, x_all.shape[0], batch_size):
        bx, by = x_all[s:s + batch_size], y_all[s:s + batch_size]
        logits = model(bx)
        loss = nn.losses.cross_entropy(logits, by, reduction="mean")
        acc = mx.mean(mx.argmax(logits, axis=1) == by)
        mx.eval(loss, acc)
        losses.append(loss.item())
        accs.append(acc.item())

    model.train(prev_mode)
    return float(np.mean(losses)), float(np.mean(accs))


def main():
    mx.random.seed(SEED)
    rng = np.random.default_rng(SEED)
    (xtr, ytr), (xte, yte) = make_data(rng)
    xtr, ytr, xte, yte = map(mx.array, (xtr, ytr, xte, yte))

    model = DeepRunner()
    optimizer = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
    value_and_grad = nn.value_and_grad(model, loss_fn)

    def step(bx, by):
        loss, grads = value_and_grad(model, bx, by)
        optimizer.update(model, grads)
        return loss, optim.clip_grad_norm(grads, 1e9)[1]

    state = [model.state, optimizer.state, mx.random.state]
    step = mx.compile(step, inputs=state, outputs=state)

    t0 = time.time()
    for i in range(1, STEPS + 1):
        idx = mx.array(rng.integers(0, N_TRAIN, size=BATCH))
        loss, gnorm = step(xtr[idx], ytr[idx])
        mx.eval(state, loss, gnorm)
        if i % 25 == 0:
            print(f"step {i:4d}  train_loss {loss.item():.4f}  grad_norm {gnorm.item():.3f}")
        if i % EVAL_EVERY == 0:
            tl, ta = evaluate(model, xte, yte)
            print(f"  eval @ {i}: test_loss {tl:.4f}  test_acc {100 * ta:.2f}%")

    tl, ta = evaluate(model, xte, yte)
    tl2, ta2 = evaluate(model, xte, yte)
    print(f"final: test_loss {tl:.4f} test_acc {100 * ta:.2f}% | re-check test_acc {100 * ta2:.2f}% "
          f"| {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
