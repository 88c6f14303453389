"""Stateful LSTM forecaster trained with truncated BPTT: the hidden state is carried from one
chunk of the series to the next but cut from the graph (mx.stop_gradient) at each chunk.
Progress lines look like 'epoch 3 | iter 40/100 | rmse=0.12'."""
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

T_TOTAL, CHUNK, B = 6000, 30, 8
t = mx.arange(T_TOTAL).astype(mx.float32)
phase = mx.arange(B).astype(mx.float32)[:, None] * 0.7
series = mx.sin(0.07 * t[None, :] + phase) + 0.5 * mx.sin(0.013 * t[None, :] + 2 * phase)
series = series + 0.05 * mx.random.normal(series.shape, key=mx.random.key(1))


class Forecaster(nn.Module):
    def __init__(self, h=32):
        super().__init__()
        self.lstm = nn.LSTM(1, h)
        self.head = nn.Linear(h, 1)

    def __call__(self, x, state):
        h, c = self.lstm(x[..., None], *state)
        return self.head(h).squeeze(-1), (h[:, -1], c[:, -1])


def loss_fn(model, x, y, state):
    pred, new_state = model(x, state)
    return nn.losses.mse_loss(pred, y), new_state


model = Forecaster()
opt = optim.Adam(learning_rate=3e-3)
lg = nn.value_and_grad(model, loss_fn)
n_iters = (T_TOTAL - 1) // CHUNK
for epoch in range(1, 4):
    state = (None, None)
    for it in range(n_iters):
        s = it * CHUNK
        x, y = series[:, s:s + CHUNK], series[:, s + 1:s + CHUNK + 1]
        (loss, state), grads = lg(model, x, y, state)
        state = tuple(mx.stop_gradient(v) for v in state)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, state)
        if (it + 1) % 40 == 0 or (epoch == 1 and it + 1 in (5, 20)):
            print(f"epoch {epoch} | iter {it + 1}/{n_iters} | rmse={math.sqrt(loss.item()):.4f}")
