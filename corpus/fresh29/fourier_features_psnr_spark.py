"""Coordinate MLP with fixed Gaussian random Fourier features (Tancik et al.
2020) fitting a 1-D signal with a chirp and a sharp edge. The random
projection is a private attribute (not trained). Progress every 150 steps:
train MSE, held-out PSNR in dB (higher is better) and a sparkline of the
last window of minibatch losses."""
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
mx.random.seed(11)


def signal(t):
    chirp = np.sin(2 * np.pi * (3 * t + 14 * t ** 2))
    edge = np.where(t > 0.62, 0.6, -0.2)
    return (0.5 * chirp + edge + 0.25 * np.cos(2 * np.pi * 5 * t)).astype(np.float32)


t_train = rng.uniform(0, 1, 4096).astype(np.float32)
y_train = signal(t_train) + 0.02 * rng.standard_normal(4096).astype(np.float32)
t_test = np.linspace(0, 1, 2000, dtype=np.float32)
y_test = signal(t_test)


class FourierMLP(nn.Module):
    def __init__(self, n_freq=64, scale=12.0, h=128):
        super().__init__()
        self._B = mx.array(rng.normal(0, scale, (1, n_freq)).astype(np.float32))
        self.l1 = nn.Linear(2 * n_freq, h)
        self.l2 = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, t):
        z = 2 * math.pi * t[:, None] @ self._B
        f = mx.concatenate([mx.sin(z), mx.cos(z)], axis=1)
        return self.out(nn.relu(self.l2(nn.relu(self.l1(f))))).squeeze(-1)


def mse(model, t, y):
    return ((model(t) - y) ** 2).mean()


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(v):
    v = np.log10(np.asarray(v))
    lo, hi = v.min(), v.max()
    return "".join(SPARK[int((x - lo) / (hi - lo + 1e-12) * 7)] for x in v)


model = FourierMLP()
STEPS, BS, EVERY = 1800, 256, 150
sched = optim.cosine_decay(2e-3, STEPS, 1e-5)
opt = optim.Adam(learning_rate=sched)
vg = nn.value_and_grad(model, mse)
peak = float(np.max(np.abs(y_test)))
window, t0 = [], time.time()
print(f"{'step':>5} | {'mse(win)':>9} | {'test PSNR':>9} | loss trend (log, last {EVERY//10} pts)")
for step in range(1, STEPS + 1):
    idx = rng.integers(0, 4096, BS)
    loss, g = vg(model, mx.array(t_train[idx]), mx.array(y_train[idx]))
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    if step % EVERY == 0:
        pred = np.array(model(mx.array(t_test)))
        psnr = 10 * math.log10(peak ** 2 / float(np.mean((pred - y_test) ** 2)))
        pts = [np.mean(window[i:i + 10]) for i in range(0, len(window), 10)]
        print(f"{step:5d} | {np.mean(window):9.5f} | {psnr:6.2f} dB | {sparkline(pts)}  ({time.time()-t0:.1f}s)")
        window = []
