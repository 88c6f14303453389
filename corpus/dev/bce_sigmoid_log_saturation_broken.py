"""Binary click-through classifier; metrics go out as JSON lines for a dashboard."""
import json

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

mx.random.seed(21)
rng = np.random.default_rng(21)
X = rng.normal(size=(4096, 20)).astype(np.float32)
w = rng.normal(size=(20,)).astype(np.float32)
Y = (X @ w > 0).astype(np.float32)


class CTRModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(20, 64)
        self.l2 = nn.Linear(64, 1)

    def __call__(self, x):
        return self.l2(nn.relu(self.l1(x))).squeeze(-1)


def bce(model, x, y):
    p = mx.sigmoid(model(x))
    return -(y * mx.log(p) + (1 - y) * mx.log(1 - p)).mean()


model = CTRModel()
opt = optim.SGD(learning_rate=0.2, momentum=0.9)
grad_fn = nn.value_and_grad(model, bce)
for epoch in range(25):
    perm = rng.permutation(len(X))
    for i in range(0, len(X), 256):
        idx = perm[i:i + 256]
        loss, g = grad_fn(model, mx.array(X[idx]), mx.array(Y[idx]))
        opt.update(model, g)
        mx.eval(loss, model.parameters(), opt.state)
        if (i // 256) % 4 == 0:
            print(json.dumps({"epoch": epoch, "batch": i // 256, "bce": round(loss.item(), 5)}))
    acc = ((model(mx.array(X)) > 0) == mx.array(Y > 0.5)).mean().item()
    print(json.dumps({"epoch": epoch, "acc": round(acc, 4)}))
