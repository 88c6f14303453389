# Denoising autoencoder on 2-D "ring" points; the train step is mx.compile'd
# with the model/optimizer state threaded through inputs/outputs.
from functools import partial
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)
N = 256
theta = mx.random.uniform(0, 2 * math.pi, (N,))
clean = mx.stack([mx.cos(theta), mx.sin(theta)], axis=1) * 2.0
val_theta = mx.random.uniform(0, 2 * math.pi, (512,))
val_clean = mx.stack([mx.cos(val_theta), mx.sin(val_theta)], axis=1) * 2.0
val_noisy = val_clean + 0.5 * mx.random.normal(val_clean.shape)

model = nn.Sequential(nn.Linear(2, 128), nn.SiLU(), nn.Linear(128, 128), nn.SiLU(), nn.Linear(128, 2))
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3)


def loss_fn(m, noisy, target):
    return mx.mean((m(noisy) - target) ** 2)


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x):
    noisy = x + 0.5 * mx.random.normal(x.shape)      # fresh corruption every step
    loss, grads = nn.value_and_grad(model, loss_fn)(model, noisy, x)
    opt.update(model, grads)
    return loss


print("step | train_mse | val_mse (fresh noise) | identity_mse")
ident = mx.mean((val_noisy - val_clean) ** 2).item()
for step in range(1, 2001):
    loss = train_step(clean)                             # full batch
    mx.eval(state)
    if step % 250 == 0 or step == 1:
        v = loss_fn(model, val_noisy, val_clean).item()
        print(f"{step:4d} | {loss.item():9.4f} | {v:21.4f} | {ident:.4f}")
