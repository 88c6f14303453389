"""Noisy regression trained with plain SGD at a deliberately high constant lr,
so the per-step training loss keeps bouncing around; a Polyak/EMA copy of the
weights (decay 0.995) is kept on the side and only that copy is validated."""
import json
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

rng = np.random.default_rng(11)
D = 16
A = (rng.normal(size=(D, 1)) / np.sqrt(D) * 1.5).astype(np.float32)


def sample(n):
    x = rng.normal(size=(n, D)).astype(np.float32)
    y = np.sin(x @ A) + 0.3 * rng.normal(size=(n, 1)).astype(np.float32)
    return mx.array(x), mx.array(y)


def make():
    return nn.Sequential(nn.Linear(D, 64), nn.Tanh(), nn.Linear(64, 1))


model, ema_model = make(), make()
ema_model.update(tree_map(lambda p: p, model.parameters()))
ema_model.freeze()
opt = optim.SGD(learning_rate=0.15)
mse = lambda m, x, y: nn.losses.mse_loss(m(x), y)
vg = nn.value_and_grad(model, mse)
xv, yv = sample(2000)
decay = 0.995
for step in range(1, 3001):
    x, y = sample(16)
    loss, grads = vg(model, x, y)
    opt.update(model, grads)
    ema_model.update(tree_map(lambda e, p: decay * e + (1 - decay) * p,
                              ema_model.parameters(), model.parameters()))
    mx.eval(model.parameters(), ema_model.parameters(), opt.state, loss)
    if step % 250 == 0:
        rec = {"step": step, "batch_mse": round(loss.item(), 4),
               "live_val_mse": round(mse(model, xv, yv).item(), 4),
               "ema_val_mse": round(mse(ema_model, xv, yv).item(), 4)}
        print(json.dumps(rec))
