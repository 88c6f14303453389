"""Two-stage fine-tune: head-only for the first stage (backbone frozen on purpose), then full model."""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(3)
D, C = 16, 4
centers = rng.normal(0, 1.5, (C, D)).astype(np.float32)


def sample(n):
    y = rng.integers(0, C, n)
    x = centers[y] + rng.normal(0, 1.0, (n, D)).astype(np.float32)
    x = np.tanh(x) * 2.0 + 0.3 * x ** 2
    return mx.array(x.astype(np.float32)), mx.array(y.astype(np.int32))


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(D, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.head = nn.Linear(64, C)

    def __call__(self, x):
        return self.head(self.backbone(x))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = Classifier()
mx.eval(model.parameters())
xv, yv = sample(1000)

stages = [("head-only", 250, 3e-3), ("full", 350, 1e-3)]
for name, steps, lr in stages:
    model.unfreeze()
    if name == "head-only":
        model.backbone.freeze()
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"== stage {name}: {n_train} trainable params, lr={lr}")
    opt = optim.AdamW(learning_rate=lr, weight_decay=0.01)
    step_fn = nn.value_and_grad(model, loss_fn)
    for it in range(1, steps + 1):
        x, y = sample(128)
        loss, grads = step_fn(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if it % 50 == 0:
            acc = mx.mean(mx.argmax(model(xv), axis=1) == yv).item()
            print(f"[{name}] step {it:4d} | loss {loss.item():.4f} | val_acc {acc:.3f}")
print("finished")
