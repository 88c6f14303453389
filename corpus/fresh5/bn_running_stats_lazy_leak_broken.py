"""Tabular classifier with BatchNorm, plain epochs x batches loop, Adam."""
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(2)
N, D, C = 8192, 16, 4
W = mx.random.normal((D, C))
X = mx.random.normal((N, D)) * mx.random.uniform(0.5, 3.0, (D,))
Y = mx.argmax(X @ W, axis=1)
Xv = mx.random.normal((1024, D)) * mx.random.uniform(0.5, 3.0, (D,))
Yv = mx.argmax(Xv @ W, axis=1)
mx.eval(X, Y, Xv, Yv)


class TabNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(D, 512)
        self.bn1 = nn.BatchNorm(512)
        self.fc2 = nn.Linear(512, C)

    def __call__(self, x):
        return self.fc2(nn.relu(self.bn1(self.fc1(x))))


model = TabNet()
optimizer = optim.Adam(learning_rate=1e-3)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)
BATCH = 512
t0 = time.time()
for epoch in range(1, 21):
    perm = mx.random.permutation(N)
    total = 0.0
    for i in range(0, N, BATCH):
        idx = perm[i:i + BATCH]
        loss, grads = loss_and_grad(model, X[idx], Y[idx])
        optimizer.update(model, grads)
        # only the weights we train (and the optimizer) need to be materialised
        mx.eval(model.trainable_parameters(), optimizer.state, loss)
        total += loss.item()
    print(f"epoch {epoch:2d}  train_loss={total / (N // BATCH):.4f}  ({time.time() - t0:.1f}s)", flush=True)

model.eval()
acc = mx.mean(mx.argmax(model(Xv), axis=1) == Yv).item()
print(f"val_acc={acc:.3f}")
