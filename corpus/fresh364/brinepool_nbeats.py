import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
L, H, P = 48, 12, 24  # lookback, horizon, season


def make_series(n, length):
    t = np.arange(length)[None, :]
    level = rng.uniform(20, 400, (n, 1))
    amp = rng.uniform(0.1, 0.4, (n, 1)) * level
    trend = rng.normal(0, 0.002, (n, 1)) * level
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    noise = rng.normal(0, 0.04, (n, length)) * level
    return (level + trend * t + amp * np.sin(2 * np.pi * t / P + phase) + noise).astype(np.float32)


def windows(series):
    xs, ys = [], []
    for s in series:
        for start in range(0, s.shape[0] - L - H + 1, 6):
            xs.append(s[start:start + L]); ys.append(s[start + L:start + L + H])
    return np.stack(xs), np.stack(ys)


xtr, ytr = windows(make_series(160, 240))
xte, yte = windows(make_series(40, 240))
XTR, YTR, XTE = mx.array(xtr), mx.array(ytr), mx.array(xte)


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc = [nn.Linear(L, width), nn.Linear(width, width), nn.Linear(width, width)]
        self.back = nn.Linear(width, L)
        self.fore = nn.Linear(width, H)

    def __call__(self, x):
        h = x
        for layer in self.fc:
            h = nn.relu(layer(h))
        return self.back(h), self.fore(h)


class NBeats(nn.Module):
    def __init__(self, blocks=3, width=64):
        super().__init__()
        self.blocks = [Block(width) for _ in range(blocks)]

    def __call__(self, x):
        scale = mx.maximum(mx.mean(mx.abs(x), axis=1, keepdims=True), 1e-3)
        resid = x / scale
        forecast = mx.zeros((x.shape[0], H))
        for b in self.blocks:
            back, fore = b(resid)
            resid = resid - back
            forecast = forecast + fore
        return forecast * scale, scale


def loss_fn(model, x, y):
    pred, scale = model(x)
    return mx.mean(mx.abs(pred - y) / scale)


def smape(p, y):
    return float(np.mean(200 * np.abs(p - y) / (np.abs(p) + np.abs(y))))


mx.random.seed(0)
model = NBeats()
mx.eval(model.parameters())
steps, warm = 360, 60
sched = optim.join_schedules([optim.linear_schedule(0.0, 1e-3, warm), optim.cosine_decay(1e-3, steps - warm, 1e-5)], [warm])
opt = optim.Adam(learning_rate=sched)
vg = nn.value_and_grad(model, loss_fn)

naive = np.concatenate([xte[:, -P:], xte[:, -P:]], axis=1)[:, :H]
print(f"windows train={len(xtr)} test={len(xte)} lookback={L} horizon={H}")
print(f"seasonal-naive baseline  sMAPE={smape(naive, yte):.2f}")
p0, _ = model(XTE)
print(f"untrained                sMAPE={smape(np.array(p0), yte):.2f}")
t0 = time.time(); run = []
for step in range(1, steps + 1):
    idx = mx.array(rng.integers(0, len(xtr), 128))
    loss, g = vg(model, XTR[idx], YTR[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    run.append(loss.item())
    if step in (1, 30, 60) or step % 60 == 0:
        p, _ = model(XTE)
        print(f"step {step:5d}  lr {float(opt.learning_rate):.2e}  scaled-MAE {np.mean(run[-30:]):.4f}  test sMAPE {smape(np.array(p), yte):.2f}  ({time.time()-t0:.1f}s)")
p, _ = model(XTE)
print(f"final: model sMAPE={smape(np.array(p), yte):.2f} vs seasonal-naive {smape(naive, yte):.2f}")
