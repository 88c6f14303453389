"""Spiral-ish 5-class problem, generator-fed while loop, SGD with momentum."""
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(5)
C, PER = 5, 400
t = mx.random.uniform(0, 1, (C * PER,))
cls = mx.repeat(mx.arange(C), PER)
ang = 4.0 * t + cls.astype(mx.float32) * (2 * math.pi / C) + 0.15 * mx.random.normal(t.shape)
X = mx.stack([t * mx.cos(ang), t * mx.sin(ang)], axis=1)
Y = cls
mx.eval(X, Y)


def batches(batch_size=500):
    while True:
        perm = mx.random.permutation(X.shape[0])
        for i in range(0, X.shape[0], batch_size):
            idx = perm[i:i + batch_size]
            yield X[idx], Y[idx]


model = nn.Sequential(nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, C))
opt = optim.SGD(learning_rate=0.2, momentum=0.9)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y).sum()


train_step = nn.value_and_grad(model, loss_fn)
it, gen = 0, batches()
while it < 400:
    x, y = next(gen)
    loss, grads = train_step(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    it += 1
    if it % 50 == 0:
        acc = mx.mean(mx.argmax(model(X), axis=1) == Y).item()
        print(f"it {it:4d} | ce {loss.item() / x.shape[0]:.4f} | acc {acc:.3f}")
