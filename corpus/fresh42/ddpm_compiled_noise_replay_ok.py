# Tiny DDPM on a 2-D "ring of 6 blobs" toy dataset.
# The whole update (timestep + noise sampling, loss, Adam step) is compiled.
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

T = 50
betas = np.linspace(1e-4, 0.2, T).astype(np.float32)
alpha_bar = mx.array(np.cumprod(1.0 - betas))

rs = np.random.RandomState(0)


def sample_data(n):
    k = rs.randint(0, 6, size=n)
    ang = 2 * np.pi * k / 6
    centers = np.stack([np.cos(ang), np.sin(ang)], 1) * 2.0
    return mx.array((centers + 0.15 * rs.randn(n, 2)).astype(np.float32))


class EpsNet(nn.Module):
    def __init__(self, h=64):
        super().__init__()
        self.t_emb = nn.Embedding(T, h)
        self.inp = nn.Linear(2, h)
        self.l1 = nn.Linear(h, h)
        self.l2 = nn.Linear(h, h)
        self.out = nn.Linear(h, 2)

    def __call__(self, x, t):
        h = nn.silu(self.inp(x) + self.t_emb(t))
        h = nn.silu(self.l1(h))
        h = nn.silu(self.l2(h))
        return self.out(h)


def diffusion_loss(model, x0, t, eps):
    ab = alpha_bar[t][:, None]
    xt = mx.sqrt(ab) * x0 + mx.sqrt(1.0 - ab) * eps
    return mx.mean(mx.square(model(xt, t) - eps))


mx.random.seed(1)
model = EpsNet()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=2e-3)
loss_and_grad = nn.value_and_grad(model, diffusion_loss)

state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x0):
    t = mx.random.randint(0, T, (x0.shape[0],))
    eps = mx.random.normal(x0.shape)
    loss, grads = loss_and_grad(model, x0, t, eps)
    opt.update(model, grads)
    return loss


# held-out check: fresh data, fresh noise, drawn in numpy so it is independent
eval_rs = np.random.RandomState(123)
xv = sample_data(2048)
tv = mx.array(eval_rs.randint(0, T, size=2048))
ev = mx.array(eval_rs.randn(2048, 2).astype(np.float32))

BATCH = 256
STEPS = 1500
t0 = time.time()
print(f"{'step':>6} {'train_mse':>10} {'heldout_mse':>12} {'sec':>6}")
run = 0.0
for step in range(1, STEPS + 1):
    x0 = sample_data(BATCH)
    loss = train_step(x0)
    mx.eval(loss, state)
    run += loss.item()
    if step % 150 == 0:
        val = diffusion_loss(model, xv, tv, ev).item()
        print(f"{step:6d} {run / 150:10.4f} {val:12.4f} {time.time() - t0:6.1f}")
        run = 0.0
print("done")
