"""Multichannel sensor forecaster: hand-rolled LSTM (ported from a Swift
implementation) reads 24 steps of 5 noisy coupled oscillators and predicts the
next step of all channels.  Nesterov SGD with a step-decay schedule."""
import math
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class HandLSTM(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        scale = 1.0 / math.sqrt(hidden_size)
        self.wx = mx.random.uniform(low=-scale, high=scale, shape=(4 * hidden_size, input_size))
        self.wh = mx.random.uniform(low=-scale, high=scale, shape=(4 * hidden_size, hidden_size))
        self.bias = mx.random.uniform(low=-scale, high=scale, shape=(4 * hidden_size,))

    def __call__(self, x):
        xw = x @ self.wx.T + self.bias
        B, T, _ = x.shape
        h = c = None
        outs = []
        for t in range(T):
            gates = xw[:, t]
            if h is not None:
                gates = gates + h @ self.wh.T
            i, f, g, o = mx.split(gates, 4, axis=-1)
            i, f, g, o = mx.sigmoid(i), mx.sigmoid(f), mx.tanh(g), mx.sigmoid(o)
            c = i * g if c is None else f * c + i * g
            h = o * mx.tanh(c)
            outs.append(h)
        return mx.stack(outs, axis=1)


class Forecaster(nn.Module):
    def __init__(self, channels=5, hidden=32):
        super().__init__()
        self.rnn = HandLSTM(channels, hidden)
        self.head = nn.Linear(hidden, channels)

    def __call__(self, x):
        return self.head(self.rnn(x)[:, -1])


def make_series(rng, n, T, C=5):
    t = np.arange(T + 1)[None, :, None]
    freq = rng.uniform(0.15, 0.45, size=(n, 1, C))
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1, C))
    base = np.sin(freq * t + phase)
    mix = base + 0.4 * np.roll(base, 1, axis=2) ** 2
    mix += rng.normal(scale=0.05, size=mix.shape)
    return mix[:, :-1].astype(np.float32), mix[:, -1].astype(np.float32)


def bar(frac, width=24):
    k = int(frac * width)
    return "[" + "#" * k + "." * (width - k) + "]"


def main():
    rng = np.random.default_rng(5)
    mx.random.seed(5)
    xtr, ytr = make_series(rng, 2048, 24)
    xva, yva = make_series(rng, 256, 24)
    model = Forecaster()
    mx.eval(model.parameters())
    sched = optim.step_decay(0.05, 0.5, 160)
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
    loss_and_grad = nn.value_and_grad(model, lambda m, x, y: nn.losses.mse_loss(m(x), y))
    naive = float(np.mean((xva[:, -1] - yva) ** 2))
    print(f"persistence baseline val mse: {naive:.4f}")
    bs, epochs = 64, 12
    nb = len(xtr) // bs
    t0 = time.time()
    for ep in range(epochs):
        perm = rng.permutation(len(xtr))
        run = 0.0
        for b in range(nb):
            idx = perm[b * bs:(b + 1) * bs]
            loss, grads = loss_and_grad(model, mx.array(xtr[idx]), mx.array(ytr[idx]))
            grads, _ = optim.clip_grad_norm(grads, 1.0)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        val = nn.losses.mse_loss(model(mx.array(xva)), mx.array(yva)).item()
        sys.stdout.write(f"ep {ep + 1:2d}/{epochs} {bar((ep + 1) / epochs)} train_mse {run / nb:.4f} "
                         f"val_mse {val:.4f} lr {opt.learning_rate.item():.4f} {time.time() - t0:5.1f}s\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
