"""Read a random 9-digit string with a GRU and regress its digit sum (0..81).

Digits are embedded and read left to right by nn.GRU; the last hidden state goes
through a Linear head to one number (target standardised). Optimizer: Lion.
Every 300 steps: window-mean train MSE (standardised units), held-out RMSE in
digit-sum units and the share of held-out strings whose rounded prediction is
exactly right, next to the predict-the-mean reference.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

L = 9
MU, SD = 4.5 * L, np.sqrt(L * 8.25)
rng = np.random.default_rng(11)


def batch(n):
    p = rng.integers(0, 10, size=(n, L))
    return p.astype(np.int32), p.sum(1).astype(np.float32)


class Reader(nn.Module):
    def __init__(self, h=48):
        super().__init__()
        self.emb = nn.Embedding(10, 16)
        self.gru = nn.GRU(16, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        hs = self.gru(self.emb(x))
        return self.out(hs[:, -1, :]).squeeze(-1)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), (y - MU) / SD, reduction="mean")


model = Reader()
mx.eval(model.parameters())
opt = optim.Lion(learning_rate=1e-3)
vg = nn.value_and_grad(model, loss_fn)

xv, yv = batch(3000)
ref_rmse = float(np.sqrt(np.mean((yv - MU) ** 2)))
xv, yv = mx.array(xv), mx.array(yv)

x0, y0 = batch(128)
_, g0 = vg(model, mx.array(x0), mx.array(y0))
flat = tree_flatten(g0)
dead = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
print(f"{len(flat)} gradient leaves at step 0; zero leaves: {dead if dead else 'none'}")
print(f"reference: predicting the mean sum gives held-out RMSE {ref_rmse:.2f}")

STEPS, EVERY = 1500, 300
t0 = time.time()
running = []
for step in range(1, STEPS + 1):
    xb, yb = batch(128)
    loss, g = vg(model, mx.array(xb), mx.array(yb))
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    running.append(loss.item())
    if step % EVERY == 0:
        pred = model(xv) * SD + MU
        rmse = mx.sqrt(mx.mean((pred - yv) ** 2)).item()
        exact = (mx.round(pred) == yv).astype(mx.float32).mean().item()
        print(f"[{step:4d}/{STEPS}] train mse {np.mean(running):.4f}   "
              f"held-out rmse {rmse:5.2f}   exact {exact:6.1%}")
        running = []
print(f"elapsed {time.time() - t0:.1f}s")
