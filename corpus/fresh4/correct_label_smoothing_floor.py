"""Classifier trained with label smoothing 0.2: the loss floors well above zero (~0.6) while
accuracy reaches 1.0. Lion optimizer; a fixed-width progress line."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(9)
C = 5
centers = mx.random.normal((C, 6)) * 3.0


def batch(n=128):
    y = mx.random.randint(0, C, (n,))
    x = centers[y] + 0.5 * mx.random.normal((n, 6))
    return x, y


model = nn.Sequential(nn.Linear(6, 64), nn.SiLU(), nn.Linear(64, C))
opt = optim.Lion(learning_rate=3e-4)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, label_smoothing=0.2, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)
TOTAL = 600
for it in range(1, TOTAL + 1):
    x, y = batch()
    loss, g = vg(model, x, y)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 40 == 0:
        acc = (mx.argmax(model(x), axis=1) == y).mean().item()
        print(f"[{it:4d}/{TOTAL}] loss {loss.item():.4f}  acc {acc:.3f}")
