"""Reef-tank pH forecasting for a public aquarium's six display tanks.

12-hour-ahead pH forecast from the last 96 hourly probe readings.
Model: a small TimesNet-style block. For every batch the dominant periods of
the lookback window are found with an FFT, the window is folded into a 2-D
(cycles x phase) grid per period, mixed with two Conv2d layers, unfolded and
blended by the FFT amplitudes. A linear head maps the window to the horizon.

The learning rate warms up from exactly 0, so the first logged step has lr 0.
Skill is reported against a seasonal-naive forecast (same hour yesterday);
it starts negative and should end clearly positive.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)

LOOKBACK, HORIZON = 96, 12
N_TANKS, HOURS = 6, 24 * 110


def make_tank(seed):
    r = np.random.default_rng(seed)
    h = np.arange(HOURS)
    amp = r.uniform(0.09, 0.15)
    base = r.uniform(8.05, 8.2)
    day = amp * np.sin(2 * np.pi * (h - 9 - r.uniform(-1, 1)) / 24.0)
    # weekly partial water change: pH dip that relaxes back over ~10 h
    wc = np.zeros(HOURS)
    start = r.integers(0, 168)
    for t0 in range(start, HOURS, 168):
        k = np.arange(HOURS - t0)
        wc[t0:] -= 0.07 * np.exp(-k / 10.0)
    drift = np.cumsum(r.normal(0, 0.002, HOURS))
    drift -= np.linspace(0, drift[-1], HOURS)
    noise = r.normal(0, 0.01, HOURS)
    return base + day + wc + drift + noise


series = np.stack([make_tank(100 + i) for i in range(N_TANKS)]).astype(np.float32)
split = int(HOURS * 0.8)
mu, sd = series[:, :split].mean(), series[:, :split].std()


def windows(lo, hi):
    xs, ys = [], []
    for s in series:
        seg = s[lo:hi]
        for t in range(0, len(seg) - LOOKBACK - HORIZON + 1, 2):
            xs.append(seg[t:t + LOOKBACK])
            ys.append(seg[t + LOOKBACK:t + LOOKBACK + HORIZON])
    return np.array(xs), np.array(ys)


xtr, ytr = windows(0, split)
xva, yva = windows(split - LOOKBACK, HOURS)
ztr, zytr = (xtr - mu) / sd, (ytr - mu) / sd
zva = (xva - mu) / sd
print(f"train windows {len(xtr)}  val windows {len(xva)}  pH mean {mu:.3f} sd {sd:.3f}")


def top_periods(xb, k=2):
    spec = mx.abs(mx.fft.rfft(xb, axis=1)).mean(axis=0)
    spec = spec[1:]                      # drop the mean (DC) bin
    amp = np.array(spec)
    idx = np.argsort(-amp)[:k]
    periods = [max(2, LOOKBACK // int(i + 1)) for i in idx]
    return periods, mx.array(amp[idx])


class FoldBlock(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.c1 = nn.Conv2d(d, d, kernel_size=3, padding=1)
        self.c2 = nn.Conv2d(d, d, kernel_size=3, padding=1)

    def __call__(self, h, periods, amps):
        B, L, D = h.shape
        outs = []
        for p in periods:
            rows = -(-L // p)
            pad = rows * p - L
            hp = mx.pad(h, [(0, 0), (0, pad), (0, 0)]) if pad else h
            img = hp.reshape(B, rows, p, D)
            img = self.c2(nn.gelu(self.c1(img)))
            outs.append(img.reshape(B, rows * p, D)[:, :L, :])
        w = mx.softmax(amps)
        mixed = sum(w[i] * outs[i] for i in range(len(outs)))
        return h + mixed


class TimesFold(nn.Module):
    def __init__(self, d=8):
        super().__init__()
        self.embed = nn.Linear(1, d)
        self.block = FoldBlock(d)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(LOOKBACK * d, HORIZON)

    def __call__(self, x, periods, amps):
        h = self.embed(x[..., None])
        h = self.norm(self.block(h, periods, amps))
        return self.head(h.reshape(h.shape[0], -1)) + x[:, -1:]


model = TimesFold()
mx.eval(model.parameters())
n_params = sum(v.size for _, v in __import__("mlx.utils", fromlist=["x"]).tree_flatten(model.parameters()))
print(f"parameters: {n_params}")

STEPS, WARM, BS = 500, 50, 32
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, STEPS - WARM, 1e-5)], [WARM]
)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def loss_fn(m, x, y, periods, amps):
    return nn.losses.huber_loss(m(x, periods, amps), y, delta=1.0, reduction="mean")


step_fn = nn.value_and_grad(model, loss_fn)

xva_m = mx.array(zva)
va_periods, va_amps = top_periods(xva_m)
persist_mae = np.abs(xva[:, -1:] - yva).mean()
seasonal = xva[:, LOOKBACK - 24:LOOKBACK - 24 + HORIZON]
seasonal_mae = np.abs(seasonal - yva).mean()


def val_mae():
    pred = np.array(model(xva_m, va_periods, va_amps)) * sd + mu
    return np.abs(pred - yva).mean()


print(f"detected periods on val: {va_periods}")
print(f"baselines  persistence MAE {persist_mae:.4f}  seasonal-naive MAE {seasonal_mae:.4f}")
m0 = val_mae()
print(f"step    0 untrained val MAE {m0:.4f}  skill vs seasonal {1 - m0 / seasonal_mae:+.3f}")

t0 = time.time()
for step in range(1, STEPS + 1):
    idx = rng.integers(0, len(ztr), BS)
    xb = mx.array(ztr[idx])
    yb = mx.array(zytr[idx])
    periods, amps = top_periods(xb)
    lr_now = opt.learning_rate.item()
    loss, grads = step_fn(model, xb, yb, periods, amps)
    grads, gnorm = optim.clip_grad_norm(grads, 1.0)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step == 1 or step % 50 == 0:
        print(f"step {step:4d} lr {lr_now:.2e} huber {loss.item():.4f} gnorm {gnorm.item():.3f} periods {periods}")
    if step % 125 == 0:
        m = val_mae()
        print(f"  val MAE {m:.4f} pH  skill vs seasonal {1 - m / seasonal_mae:+.3f}  vs persistence {1 - m / persist_mae:+.3f}")

m = val_mae()
print(f"final val MAE {m:.4f} pH | persistence {persist_mae:.4f} | seasonal-naive {seasonal_mae:.4f}")
print(f"final skill vs seasonal {1 - m / seasonal_mae:+.3f}  ({time.time() - t0:.1f}s)")
