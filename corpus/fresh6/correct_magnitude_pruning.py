"""Iterative magnitude pruning of a small MLP regressor.

Every 200 steps the smallest 40% of the remaining weights of each Linear layer
are set to zero and kept at zero afterwards (mask re-applied after every
update).  The loss jumps up right after each pruning event and recovers.
"""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(5)
mx.random.seed(5)
X = rng.uniform(-2, 2, size=(2048, 8)).astype(np.float32)
Y = (np.sin(X[:, :1] * 1.5) + 0.5 * X[:, 1:2] * X[:, 2:3] - 0.3 * X[:, 3:4] ** 2).astype(np.float32)
X, Y = mx.array(X), mx.array(Y)

model = nn.Sequential(nn.Linear(8, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))
opt = optim.SGD(learning_rate=0.02, momentum=0.9, nesterov=True)
masks = {k: mx.ones(v.shape) for k, v in tree_flatten(model.parameters()) if k.endswith("weight")}


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def apply_masks():
    params = dict(tree_flatten(model.parameters()))
    model.update(tree_unflatten([(k, params[k] * m) for k, m in masks.items()]))


def prune(frac):
    params = dict(tree_flatten(model.parameters()))
    for k in masks:
        w = mx.abs(params[k] * masks[k])
        alive = np.sort(np.array(w)[np.array(masks[k]) > 0])
        thr = float(alive[int(frac * alive.size)])
        masks[k] = masks[k] * (w >= thr)
    apply_masks()


def sparsity():
    tot = sum(m.size for m in masks.values())
    zeros = sum((m == 0).sum().item() for m in masks.values())
    return 100.0 * zeros / tot


step_fn = nn.value_and_grad(model, loss_fn)
for step in range(1, 1201):
    idx = mx.array(rng.integers(0, X.shape[0], 128))
    loss, grads = step_fn(model, X[idx], Y[idx])
    opt.update(model, grads)
    apply_masks()
    mx.eval(model.parameters(), opt.state, list(masks.values()))
    if step % 200 == 0 and step < 1200:
        before = loss_fn(model, X, Y).item()
        prune(0.4)
        after = loss_fn(model, X, Y).item()
        print(f"step {step:4d} | PRUNE full-data mse {before:.4f} -> {after:.4f} | sparsity {sparsity():5.1f}%")
    elif step % 50 == 0:
        print(f"step {step:4d} | mse {loss.item():.4f} | sparsity {sparsity():5.1f}%")
print(f"final full-data mse {loss_fn(model, X, Y).item():.4f}, sparsity {sparsity():.1f}%")
