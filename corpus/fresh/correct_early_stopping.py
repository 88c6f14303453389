"""Correct loop: small noisy dataset, validation loss goes down then up, early stopping.

The model overfits a 48-sample training set: training loss keeps falling while validation
loss reaches a minimum and then rises. The loop keeps the best weights, counts epochs without
improvement and stops when patience runs out -- the intended end of the run, exit code 0.
"""

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

mx.random.seed(17)
D = 8


def make(n):
    x = mx.random.uniform(-2, 2, (n, D))
    y = mx.sin(x[:, :1] * 1.5) + 0.3 * x[:, 1:2] + 0.35 * mx.random.normal((n, 1))
    return x, y


xtr, ytr = make(48)
xva, yva = make(512)
model = nn.Sequential(nn.Linear(D, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                      nn.Linear(256, 1))
opt = optim.Adam(learning_rate=1.5e-4)


def mse(m, x, y):
    return nn.losses.mse_loss(m(x), y)


vg = nn.value_and_grad(model, mse)
PATIENCE, MAX_EPOCHS = 20, 600
best, best_epoch, bad_epochs, best_params = float("inf"), 0, 0, None
for epoch in range(1, MAX_EPOCHS + 1):
    for b in range(0, 48, 16):
        loss, grads = vg(model, xtr[b:b + 16], ytr[b:b + 16])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
    train_loss = mse(model, xtr, ytr).item()
    val_loss = mse(model, xva, yva).item()
    if val_loss < best - 1e-4:
        best, best_epoch, bad_epochs = val_loss, epoch, 0
        best_params = tree_map(lambda p: p, model.parameters())
    else:
        bad_epochs += 1
    print(f"epoch {epoch:3d}: train_loss={train_loss:.4f} val_loss={val_loss:.4f} "
          f"best={best:.4f}@{best_epoch} patience={bad_epochs}/{PATIENCE}", flush=True)
    if bad_epochs == PATIENCE:
        print(f"Early stopping at epoch {epoch}: no val improvement for {PATIENCE} epochs; "
              f"restoring weights from epoch {best_epoch} (val_loss={best:.4f})")
        model.update(best_params)
        break
final = mse(model, xva, yva).item()
print(f"final val_loss={final:.4f}")
