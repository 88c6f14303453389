# Next-step forecaster for grid load (MW), trained in half precision to keep the
# memory footprint down. Inputs are standardised; the head de-standardises so the
# loss is in MW like the dashboards.
import time

import mlx.core as mx
import mlx.nn as nn
from mlx.optimizers import AdamW

DTYPE = mx.float32
WINDOW, HIDDEN, BATCH, STEPS = 24, 32, 32, 150
LOAD_MEAN, LOAD_STD = 40000.0, 8000.0

mx.random.seed(3)
t = mx.arange(4000).astype(mx.float32)
series = LOAD_MEAN + LOAD_STD * (mx.sin(t * 0.07) + 0.5 * mx.sin(t * 0.31) + 0.1 * mx.random.normal(t.shape))


def sample_batch():
    starts = mx.random.randint(0, series.shape[0] - WINDOW - 1, (BATCH,))
    idx = starts[:, None] + mx.arange(WINDOW + 1)[None, :]
    win = series[idx]
    x = (win[:, :WINDOW, None] - LOAD_MEAN) / LOAD_STD
    return x.astype(DTYPE), win[:, WINDOW:].astype(DTYPE)


class Forecaster(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(1, HIDDEN)
        self.proj = nn.Linear(HIDDEN, 1)

    def __call__(self, x):
        h = self.rnn(x)
        return self.proj(h[:, -1, :]) * LOAD_STD + LOAD_MEAN


net = Forecaster()
net.set_dtype(DTYPE)
opt = AdamW(learning_rate=3e-3, weight_decay=0.01)


def objective(net, x, y):
    return nn.losses.mse_loss(net(x), y)


loss_and_grad = nn.value_and_grad(net, objective)
tic = time.perf_counter()
for step in range(STEPS):
    xb, yb = sample_batch()
    loss, grads = loss_and_grad(net, xb, yb)
    opt.update(net, grads)
    mx.eval(net.state, opt.state)
    if step % 25 == 0 or step == STEPS - 1:
        print(f"step {step:3d}  mse {loss.item():.4g} MW^2")
print(f"done in {time.perf_counter() - tic:.1f}s, final rmse {loss.sqrt().item():.1f} MW")
