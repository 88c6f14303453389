# Robust regression on sensor data with rare corrupted batches: every ~60th batch
# carries gross outliers (x100 targets), so the logged batch MSE spikes by orders of
# magnitude, but the Huber loss + global-norm clipping keeps the fit on track.
import logging
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map
import numpy as np

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("robust")

rng = np.random.default_rng(5)
D = 8
w_true = rng.normal(size=(D, 1)).astype(np.float32)


def batches(n_steps, bs=64):
    for step in range(n_steps):
        x = rng.normal(size=(bs, D)).astype(np.float32)
        y = x @ w_true + 0.05 * rng.normal(size=(bs, 1)).astype(np.float32)
        if rng.random() < 1 / 60:
            y[: bs // 4] *= 100.0          # corrupted readings
        yield step, mx.array(x), mx.array(y)


model = nn.Sequential(nn.Linear(D, 32), nn.Tanh(), nn.Linear(32, 1))
opt = optim.Adam(learning_rate=3e-3)


def huber(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


vg = nn.value_and_grad(model, huber)
Xval = mx.array(rng.normal(size=(512, D)).astype(np.float32))
Yval = Xval @ mx.array(w_true)

for step, x, y in batches(1500):
    loss, grads = vg(model, x, y)
    grads, gnorm = optim.clip_grad_norm(grads, max_norm=1.0)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, gnorm)
    batch_mse = mx.mean((model(x) - y) ** 2).item()
    if step % 50 == 0 or batch_mse > 50:
        val = mx.mean((model(Xval) - Yval) ** 2).item()
        log.info("step %4d huber=%.4f batch_mse=%.3e grad_norm=%.2f val_mse=%.4f",
                 step, loss.item(), batch_mse, gnorm.item(), val)
