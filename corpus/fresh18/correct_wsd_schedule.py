"""Warmup-Stable-Decay (WSD) learning-rate schedule on a small regression MLP.

Short linear warmup, a long constant-lr "stable" phase where the noisy loss sits on a
plateau, then a linear decay to zero over the last 15% of steps where the loss drops
sharply. Logged with the logging module.
"""
import logging
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("wsd")

rng = np.random.default_rng(7)
mx.random.seed(7)
D = 12
W_true = rng.normal(size=(D, 1)) / np.sqrt(D)
X = rng.normal(size=(4096, D)).astype(np.float32)
y = (np.sin(X @ W_true * 2.0) + 0.3 * (X[:, :1] * X[:, 1:2]) + 0.05 * rng.normal(size=(4096, 1))).astype(np.float32)

model = nn.Sequential(nn.Linear(D, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))
mx.eval(model.parameters())

TOTAL, WARM, DECAY = 1500, 60, 225
PEAK = 0.12
warm = optim.linear_schedule(1e-4, PEAK, WARM)
stable = lambda step: mx.array(PEAK, dtype=mx.float32)
decay = optim.linear_schedule(PEAK, 0.0, DECAY)
schedule = optim.join_schedules([warm, stable, decay], [WARM, TOTAL - DECAY])
opt = optim.SGD(learning_rate=schedule, momentum=0.9)

def loss_fn(m, xb, yb):
    return nn.losses.mse_loss(m(xb), yb)

step_fn = nn.value_and_grad(model, loss_fn)
BATCH = 16
window = []
for step in range(1, TOTAL + 1):
    idx = rng.integers(0, len(X), size=BATCH)
    loss, grads = step_fn(model, mx.array(X[idx]), mx.array(y[idx]))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    if step % 75 == 0:
        phase = "warmup" if step <= WARM else ("stable" if step <= TOTAL - DECAY else "decay")
        log.info("step=%d phase=%s lr=%.5f mse(avg75)=%.5f", step, phase,
                 opt.learning_rate.item(), sum(window) / len(window))
        window = []
full = nn.losses.mse_loss(model(mx.array(X)), mx.array(y)).item()
log.info("final full-data mse=%.5f", full)
