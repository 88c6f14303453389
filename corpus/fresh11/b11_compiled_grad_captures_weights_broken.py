"""Tabular regression, loss+grad function compiled for speed, SGD with
momentum. Epoch-level JSON lines with the train loss and a held-out mse."""
import json

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(21)
D = 10
W_TRUE = mx.random.normal((D, 1))
X = mx.random.normal((2048, D))
Y = X @ W_TRUE + 0.1 * mx.random.normal((2048, 1))
XV = mx.random.normal((512, D))
YV = XV @ W_TRUE

model = nn.Sequential(nn.Linear(D, 32), nn.SiLU(), nn.Linear(32, 1))
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.01, momentum=0.9)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


loss_and_grad = nn.value_and_grad(model, loss_fn)


@mx.compile
def compiled_loss_and_grad(x, y):
    return loss_and_grad(model, x, y)


BS = 128
for epoch in range(1, 16):
    total = 0.0
    for i in range(0, X.shape[0], BS):
        xb, yb = X[i:i + BS], Y[i:i + BS]
        loss, grads = compiled_loss_and_grad(xb, yb)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        total += loss.item()
    val = nn.losses.mse_loss(model(XV), YV).item()
    print(json.dumps({"epoch": epoch, "train_loss": round(total / (X.shape[0] // BS), 5),
                      "val_mse": round(val, 5)}))
