# Online regression on a non-stationary stream: the true mapping changes
# abruptly every 250 steps (regime switch).  The loss spikes at each switch and
# the model re-adapts; this is expected for a drifting stream.
import csv
import io
import sys

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(11)
mx.random.seed(11)
D = 6
REGIME_LEN = 250
N_REGIMES = 5
regimes = [rng.normal(size=(D,)) * 2.0 for _ in range(N_REGIMES)]


def stream():
    for r, w in enumerate(regimes):
        for _ in range(REGIME_LEN):
            x = rng.normal(size=(16, D)).astype(np.float32)
            y = (np.tanh(x @ w) + 0.05 * rng.normal(size=16)).astype(np.float32)
            yield r, mx.array(x), mx.array(y)


model = nn.Sequential(nn.Linear(D, 32), nn.Tanh(), nn.Linear(32, 1))
opt = optim.SGD(learning_rate=0.1, momentum=0.9)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x).squeeze(-1), y)


step_fn = nn.value_and_grad(model, loss_fn)
out = csv.writer(sys.stdout)
out.writerow(["step", "regime", "mse_ema", "mse_batch"])
ema = None
for step, (regime, x, y) in enumerate(stream(), start=1):
    loss, g = step_fn(model, x, y)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    l = loss.item()
    ema = l if ema is None else 0.9 * ema + 0.1 * l
    if step % 25 == 0 or (step - 1) % REGIME_LEN < 3:
        out.writerow([step, regime, f"{ema:.4f}", f"{l:.4f}"])
sys.stdout.flush()
