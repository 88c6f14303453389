"""Image-like classifier (flattened 8x8 blobs) with an epoch-based step decay schedule:
halve the learning rate every quarter of the run."""
import argparse

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--batch-size", type=int, default=64)
args = parser.parse_args()

mx.random.seed(9)
N, C = 1536, 4
Y = mx.random.randint(0, C, (N,))
grid = mx.arange(64).reshape(8, 8)
masks = mx.stack([(grid % 8 < 4) & (grid // 8 < 4), (grid % 8 >= 4) & (grid // 8 < 4),
                  (grid % 8 < 4) & (grid // 8 >= 4), (grid % 8 >= 4) & (grid // 8 >= 4)])
X = masks[Y].reshape(N, 64).astype(mx.float32) + 0.8 * mx.random.normal((N, 64))

steps_per_epoch = N // args.batch_size
decay_every = max(1, args.epochs // 4) * steps_per_epoch
schedule = optim.step_decay(5e-2, 0.5, decay_every)
model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, C))
opt = optim.SGD(learning_rate=schedule, momentum=0.9)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


step = nn.value_and_grad(model, loss_fn)
for epoch in range(args.epochs):
    for i in range(0, N, args.batch_size):
        loss, g = step(model, X[i:i + args.batch_size], Y[i:i + args.batch_size])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
    acc = (mx.argmax(model(X), axis=1) == Y).mean().item()
    lr = opt.learning_rate.item()
    print(f"Epoch {epoch + 1}/{args.epochs} - loss: {loss.item():.4f} - acc: {acc:.4f}"
          f" - lr: {lr:.2e}")
