"""Spreader sway damping: learn the trolley correction (cm) from a short window of
sway-angle readings. Three wind stages, each harder than the last; each stage
restarts its own step counter and warms the learning rate up from exactly 0."""
import logging
import math
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s crane-sway: %(message)s")
log = logging.getLogger("sway")

rng = np.random.default_rng(2024)
T = 20


def make_windows(n, gust, dropout):
    t = np.linspace(0.0, 4.0, T, dtype=np.float32)
    amp = rng.uniform(0.02, 0.12, size=(n, 1))
    omega = rng.uniform(1.6, 2.4, size=(n, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    damp = rng.uniform(0.05, 0.25, size=(n, 1))
    wind = gust * rng.normal(size=(n, T)).cumsum(axis=1) / np.sqrt(T)
    theta = amp * np.exp(-damp * t) * np.cos(omega * t + phase) + 0.01 * wind
    theta_dot = np.gradient(theta, t, axis=1)
    sensors = np.stack([theta * 10, theta_dot * 3, wind], axis=-1).astype(np.float32)
    if dropout > 0:
        drop = rng.random(size=(n, T, 1)) < dropout
        sensors = np.where(drop, 0.0, sensors)
    # correction the trolley must make at the end of the window (cm)
    target = 420 * theta[:, -1] + 95 * theta_dot[:, -1] + 6.0 * wind[:, -4:].mean(axis=1)
    return mx.array(sensors), mx.array(target.astype(np.float32))


class SwayNet(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.gru = nn.GRU(3, hidden)
        self.out = nn.Sequential(nn.Linear(hidden, 32), nn.Tanh(), nn.Linear(32, 1))

    def __call__(self, x):
        h = self.gru(x)[:, -1, :]
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=5.0, reduction="mean")


mx.random.seed(11)
model = SwayNet()
opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    grads, gnorm = optim.clip_grad_norm(grads, 5.0)
    opt.update(model, grads)
    return loss, gnorm


stages = [
    ("calm", 0.0, 0.0, 160),
    ("gusty", 1.5, 0.0, 160),
    ("gusty+dropout", 1.5, 0.15, 200),
]
peak_lr, warm = 0.02, 25
batch = 64

for s_idx, (name, gust, dropout, steps) in enumerate(stages, 1):
    x_val, y_val = make_windows(512, gust, dropout)
    hold_mae = mx.abs(y_val - y_val.mean()).mean().item()  # predict the mean, ignore sensors
    log.info("stage %d/%d '%s' begins: %d steps, hold-still baseline MAE %.2f cm", s_idx, len(stages), name, steps, hold_mae)
    for step in range(steps):
        if step < warm:
            lr = peak_lr * step / warm
        else:
            lr = 0.5 * peak_lr * (1 + math.cos(math.pi * (step - warm) / (steps - warm)))
        opt.learning_rate = lr
        xb, yb = make_windows(batch, gust, dropout)
        loss, gnorm = train_step(xb, yb)
        mx.eval(state, loss, gnorm)
        if step % 40 == 0 or step == steps - 1:
            pred = model(x_val)
            mae = mx.abs(pred - y_val).mean().item()
            within = (mx.abs(pred - y_val) < 2.0).mean().item() * 100
            log.info(
                "stage=%s step=%d lr=%.5f huber=%.3f |g|=%.2f val_mae=%.2fcm (baseline %.2fcm) within2cm=%.1f%%",
                name, step, lr, loss.item(), gnorm.item(), mae, hold_mae, within,
            )

x_all, y_all = make_windows(1024, 1.5, 0.15)
final_mae = mx.abs(model(x_all) - y_all).mean().item()
log.info("done: final val MAE %.2f cm vs hold-still %.2f cm", final_mae, mx.abs(y_all - y_all.mean()).mean().item())
