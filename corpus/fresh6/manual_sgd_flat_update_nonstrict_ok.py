"""Hand-written SGD with decoupled weight decay applied per parameter name
(no decay on biases), for a small MLP on a synthetic regression problem."""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(4)
mx.random.seed(4)
X = rng.normal(size=(1024, 10)).astype(np.float32)
w = rng.normal(size=(10, 1)).astype(np.float32)
Y = (np.tanh(X @ w) + 0.1 * X[:, :1] ** 2).astype(np.float32)
X, Y = mx.array(X), mx.array(Y)

model = nn.Sequential(nn.Linear(10, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))
mx.eval(model.parameters())
LR, WD = 0.05, 1e-4


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


grad_fn = nn.value_and_grad(model, loss_fn)


def sgd_step(grads):
    params = dict(tree_flatten(model.trainable_parameters()))
    new = {}
    for name, g in tree_flatten(grads):
        p = params[name]
        decay = 0.0 if name.endswith("bias") else WD
        new[name] = p - LR * (g + decay * p)
    # strict=False: the grads tree only covers trainable parameters
    model.update(tree_unflatten(list(new.items())), strict=False)


for it in range(1, 801):
    idx = mx.array(rng.integers(0, 1024, 64))
    loss, grads = grad_fn(model, X[idx], Y[idx])
    sgd_step(grads)
    mx.eval(model.parameters(), loss)
    if it % 100 == 0:
        full = loss_fn(model, X, Y).item()
        print(f"it={it:4d}  batch_mse={loss.item():.5f}  full_mse={full:.5f}")
