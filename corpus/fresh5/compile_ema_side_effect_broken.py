# Regression with an EMA copy of the weights used for validation.
from functools import partial
import json
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

mx.random.seed(7)
X = mx.random.uniform(-2, 2, (768, 4))
Y = (X[:, :1] * X[:, 1:2] - mx.cos(X[:, 2:3]) + 0.5 * X[:, 3:4])
Xv, Yv = X[640:], Y[640:]
X, Y = X[:640], Y[:640]

model = nn.Sequential(nn.Linear(4, 64), nn.SiLU(), nn.Linear(64, 1))
ema_model = nn.Sequential(nn.Linear(4, 64), nn.SiLU(), nn.Linear(64, 1))
ema_model.update(model.parameters())
opt = optim.Lion(learning_rate=1e-3)
DECAY = 0.95


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    # keep a smoothed copy of the weights for validation
    ema_model.update(tree_map(lambda e, p: DECAY * e + (1 - DECAY) * p,
                              ema_model.parameters(), model.parameters()))
    return loss


for epoch in range(8):
    perm = mx.random.permutation(640)
    losses = []
    for i in range(0, 640, 32):
        idx = perm[i:i + 32]
        loss = train_step(X[idx], Y[idx])
        mx.eval(state, loss)
        losses.append(loss.item())
    val = loss_fn(ema_model, Xv, Yv).item()
    print(json.dumps({"epoch": epoch, "train_mse": round(sum(losses) / len(losses), 5),
                      "val_mse_ema": round(val, 5)}))
